package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

func TestMigrationsAreOrderedAndTwinned(t *testing.T) {
	t.Parallel()
	byDialect := map[string][]store.Migration{}
	for _, d := range []string{store.Postgres, store.SQLite} {
		ms, err := store.Migrations(d)
		if err != nil {
			t.Fatalf("Migrations(%s): %v", d, err)
		}
		if len(ms) == 0 {
			t.Fatalf("Migrations(%s) is empty", d)
		}
		// Versions count up from 1. A gap is allowed, since a branch
		// reserves its version before those of lower ones are merged;
		// two migrations of one version are not (Migrations sorts them).
		for i, m := range ms {
			switch {
			case i == 0 && m.Version != 1:
				t.Errorf("%s migrations start at version %d, want 1", d, m.Version)
			case i > 0 && m.Version == ms[i-1].Version:
				t.Errorf("%s migrations %s and %s share version %d", d, ms[i-1].Name, m.Name, m.Version)
			}
			if want := fmt.Sprintf("%04d_", m.Version); !strings.HasPrefix(m.Name, want) || strings.HasSuffix(m.Name, ".sql") {
				t.Errorf("%s migration name %q, want %s<description> without .sql", d, m.Name, want)
			}
			if strings.TrimSpace(m.SQL) == "" {
				t.Errorf("%s migration %s is empty", d, m.Name)
			}
		}
		byDialect[d] = ms
	}
	names := func(ms []store.Migration) []string {
		var n []string
		for _, m := range ms {
			n = append(n, m.Name)
		}
		return n
	}
	if pg, lite := names(byDialect[store.Postgres]), names(byDialect[store.SQLite]); !slices.Equal(pg, lite) {
		t.Errorf("the dialects' migrations differ: postgres %q, sqlite %q", pg, lite)
	}
	if _, err := store.Migrations("mysql"); err == nil {
		t.Error("Migrations(mysql) succeeded")
	}
}

// appliedMigrations returns what schema_migrations records.
func appliedMigrations(tb testing.TB, url string) (versions []int, names []string) {
	tb.Helper()
	var rows []struct {
		Version   int
		Name      string
		AppliedAt time.Time
	}
	if err := rawDB(tb, url).Raw("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").Scan(&rows).Error; err != nil {
		tb.Fatalf("read schema_migrations: %v", err)
	}
	for _, r := range rows {
		if r.AppliedAt.IsZero() || time.Since(r.AppliedAt) > time.Hour || time.Since(r.AppliedAt) < -time.Minute {
			tb.Errorf("migration %s applied at %v, want about now", r.Name, r.AppliedAt)
		}
		versions = append(versions, r.Version)
		names = append(names, r.Name)
	}
	return versions, names
}

func wantMigrations(tb testing.TB, dialect string) (versions []int, names []string) {
	tb.Helper()
	ms, err := store.Migrations(dialect)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range ms {
		versions = append(versions, m.Version)
		names = append(names, m.Name)
	}
	return versions, names
}

func TestMigrateIsIdempotent(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		url := dbtest.NewEmptyURL(t, dialect)
		st, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		wantVersions, wantNames := wantMigrations(t, dialect)

		applied, err := st.Migrate(ctx)
		if err != nil {
			t.Fatalf("first Migrate: %v", err)
		}
		if !slices.Equal(applied, wantNames) {
			t.Fatalf("first Migrate applied %q, want %q", applied, wantNames)
		}
		for i := range 2 {
			again, err := st.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("Migrate #%d applied %q, %v; want nothing", i+2, again, err)
			}
		}
		versions, names := appliedMigrations(t, url)
		if !slices.Equal(versions, wantVersions) || !slices.Equal(names, wantNames) {
			t.Fatalf("schema_migrations holds %v %q, want %v %q", versions, names, wantVersions, wantNames)
		}

		// The schema works: a store opened later uses it without migrating.
		later, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer later.Close()
		if _, total, err := later.Users.List(ctx, 10, 0); err != nil || total != 0 {
			t.Fatalf("List on the migrated database = %d, %v", total, err)
		}
	})
}

func TestConcurrentMigrateAppliesEachMigrationOnce(t *testing.T) {
	const replicas = 4
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewEmptyURL(t, dialect)
		wantVersions, wantNames := wantMigrations(t, dialect)

		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			applied []string
			errs    []error
		)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				st, err := store.Open(ctx, url)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("replica %d: open: %w", i, err))
					mu.Unlock()
					return
				}
				defer st.Close()
				<-start
				names, err := st.Migrate(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("replica %d: migrate: %w", i, err))
				}
				applied = append(applied, names...)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		slices.Sort(applied)
		if !slices.Equal(applied, wantNames) {
			t.Fatalf("the replicas applied %q between them, want each of %q once", applied, wantNames)
		}
		versions, names := appliedMigrations(t, url)
		if !slices.Equal(versions, wantVersions) || !slices.Equal(names, wantNames) {
			t.Fatalf("schema_migrations holds %v %q, want %v %q", versions, names, wantVersions, wantNames)
		}
	})
}

// TestEightConcurrentMigrationsOnFreshDatabasesNeverFail runs eight
// migrations at once, each through a store of its own (its own pool, as
// separate processes have), on fresh databases, round after round: each
// migration must be applied exactly once, and no migration may fail, as it
// did when new SQLite connections raced to switch the file to WAL mode.
func TestEightConcurrentMigrationsOnFreshDatabasesNeverFail(t *testing.T) {
	rounds := map[string]int{store.SQLite: 25, store.Postgres: 8}
	eachDialect(t, func(t *testing.T, dialect string) {
		_, wantNames := wantMigrations(t, dialect)
		for round := range rounds[dialect] {
			url := dbtest.NewEmptyURL(t, dialect)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var applied []string
			start := make(chan struct{})
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					st, err := store.Open(ctx, url)
					if err != nil {
						t.Errorf("round %d, migration %d: open: %v", round, i, err)
						return
					}
					defer st.Close()
					names, err := st.Migrate(ctx)
					if err != nil {
						t.Errorf("round %d, migration %d: %v", round, i, err)
					}
					mu.Lock()
					applied = append(applied, names...)
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			slices.Sort(applied)
			if !slices.Equal(applied, wantNames) {
				t.Fatalf("round %d: applied %q between them, want each of %q once", round, applied, wantNames)
			}
		}
	})
}
