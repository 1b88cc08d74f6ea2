package store

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/schema"
)

// migrationLock is the PostgreSQL advisory lock that serializes replicas
// migrating the same database at once.
const migrationLock = 0x746f6b656e64 // "tokend"

// migrationTimeout bounds applying the migrations: long, for migrations
// that index millions of rows.
const migrationTimeout = time.Hour

// Migration is one versioned SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the dialect's migrations in order.
func Migrations(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(schema.Migrations, dialect)
	if err != nil {
		return nil, fmt.Errorf("store: read %s migrations: %w", dialect, err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration %s/%s is not named NNNN_name.sql", dialect, name)
		}
		body, err := fs.ReadFile(schema.Migrations, dialect+"/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
}

// Migrate applies every migration the database lacks, in one transaction,
// and returns the names of those it applied. Replicas starting together
// take turns: the first applies, the others find nothing left to do.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	return s.migrate(ctx, math.MaxInt)
}

// migrate applies the migrations the database lacks up to version upTo.
func (s *Store) migrate(ctx context.Context, upTo int) ([]string, error) {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return nil, err
	}
	timeType := "timestamptz"
	if s.dialect == SQLite {
		timeType = "DATETIME"
	}
	var applied []string
	// A migration may rewrite large tables: it is not held to the bound of
	// the API's database calls.
	ctx, cancel := context.WithTimeout(ctx, migrationTimeout)
	defer cancel()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLock).Error; err != nil {
				return err
			}
		}
		err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at ` + timeType + ` NOT NULL)`).Error
		if err != nil {
			return err
		}
		var done []int
		if err := tx.Raw("SELECT version FROM schema_migrations").Scan(&done).Error; err != nil {
			return err
		}
		for _, m := range ms {
			if slices.Contains(done, m.Version) || m.Version > upTo {
				continue
			}
			if err := tx.Exec(m.SQL).Error; err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, dbTime(time.Now())).Error
			if err != nil {
				return err
			}
			applied = append(applied, m.Name)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(ctx, err, "")
	}
	return applied, nil
}

// Pending returns the names of the migrations the database lacks, without
// applying or creating anything.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return nil, err
	}
	var done []int
	err = s.db.WithContext(ctx).Raw("SELECT version FROM schema_migrations").Scan(&done).Error
	if err != nil && !s.db.WithContext(ctx).Migrator().HasTable("schema_migrations") {
		done, err = nil, nil // a database never migrated lacks them all
	}
	if err != nil {
		return nil, s.wrap(ctx, err, "")
	}
	var pending []string
	for _, m := range ms {
		if !slices.Contains(done, m.Version) {
			pending = append(pending, m.Name)
		}
	}
	return pending, nil
}
