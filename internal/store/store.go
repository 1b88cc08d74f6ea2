// Package store keeps tokend's state in PostgreSQL or in an embedded SQLite
// file, through GORM. It applies the versioned migrations embedded in package
// schema and translates database failures into application errors: a
// database that cannot be reached is unavailable, never internal.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tokend/tokend/internal/audit"
)

// The dialects Store speaks.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Store is tokend's database.
type Store struct {
	db      *gorm.DB
	dialect string
	dsn     string // the driver's data source name
	health  health
	closed  atomic.Bool
	// foldBatch, when set, replaces countFoldBatch (tests).
	foldBatch int
	// revokeAllBatch, when set, replaces the dialect's revokeAllBatch
	// (tests).
	revokeAllBatch int
	// auditSinks learn of the events of every transaction once it
	// committed (audit.go).
	auditSinks atomic.Pointer[[]func([]audit.Event)]

	Users  *Users
	Tokens *Tokens
	Keys   *Keys
	// Webhooks and Outbox keep the webhooks and their deliveries
	// (webhooks.go, outbox.go).
	Webhooks *Webhooks
	Outbox   *Outbox
}

// Open connects to the database named by url: a postgres:// or
// postgresql:// URL, or sqlite:PATH for an SQLite file, which is created
// with its directory if missing. It does not apply migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	var dialector gorm.Dialector
	var dialect string
	var dsn string
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		var err error
		if dsn, err = postgresDSN(url); err != nil {
			return nil, err
		}
		dialector, dialect = postgres.New(postgres.Config{DSN: dsn}), Postgres
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("store: sqlite URL has no path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
		if err := enableWAL(path); err != nil {
			return nil, err
		}
		// IMMEDIATE transactions take the write lock up front, so
		// concurrent writers wait for it (busy_timeout) instead of failing
		// to upgrade a read lock.
		dsn = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
			"&_pragma=synchronous(NORMAL)&_txlock=immediate" +
			"&_pragma=mmap_size(" + strconv.Itoa(sqliteMmapSize) + ")"
		dialector, dialect = sqlite.Open(dsn), SQLite
	default:
		return nil, errors.New("store: database URL must start with postgres://, postgresql:// or sqlite:")
	}

	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		// Ping below checks the connection, within ctx, and reports an
		// unreachable database as unavailable.
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// As many idle connections as open ones: a pool that keeps fewer
	// closes and reopens connections under a steady load, and requests
	// queue for them.
	if dialect == Postgres {
		sqlDB.SetMaxOpenConns(poolSize)
		sqlDB.SetMaxIdleConns(poolSize)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	} else {
		sqlDB.SetMaxOpenConns(sqlitePoolSize)
		sqlDB.SetMaxIdleConns(sqlitePoolSize)
	}
	s := &Store{db: db, dialect: dialect, dsn: dsn}
	s.Users = &Users{s}
	s.Tokens = &Tokens{s: s}
	s.Keys = &Keys{s}
	s.Webhooks, s.Outbox = &Webhooks{s}, &Outbox{s}
	if err := s.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Connection settings.
const (
	// poolSize and sqlitePoolSize are the connections each pool keeps.
	poolSize       = 20
	sqlitePoolSize = 8
	// sqliteMmapSize is how much of an SQLite file each connection reads
	// through a memory map instead of read calls: the pages are then read
	// in place, from the operating system's page cache, instead of copied
	// into the connection's own cache of 2 MB, through which a large read
	// (a first sync of the revocation feed reads every revoked token) went
	// a page at a time, a system call each. The map is shared by
	// the connections and is only address space; the write-ahead log is
	// read as before, and writes never go through the map. A read error of
	// the file (a failing disk) then stops the process instead of failing
	// the statement, as with any memory-mapped file.
	sqliteMmapSize = 1 << 30
	// connectTimeout bounds a new PostgreSQL connection, unless the URL
	// sets connect_timeout: an outage must fail a request well within the
	// 2.5 s SPEC allows.
	connectTimeout = 2 * time.Second
)

// postgresDSN adds a connect timeout to a URL that sets none, so that an
// unreachable server fails a request instead of hanging it.
func postgresDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("store: database URL is not a valid URL")
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", strconv.Itoa(int(connectTimeout/time.Second)))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// SQL returns the underlying database handle.
func (s *Store) SQL() *sql.DB {
	db, _ := s.db.DB()
	return db
}

// Dialect returns Postgres or SQLite.
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers; it fails at once while the
// database is known to be down.
func (s *Store) Ping(ctx context.Context) error {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return s.wrap(ctx, sqlDB.PingContext(ctx), "")
}

// Close closes the database.
func (s *Store) Close() error {
	s.closed.Store(true)
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// txKey is the context key under which a transaction of the store travels.
type txKey struct{ s *Store }

// InTx runs fn in one transaction: every store method fn calls with the
// context it is given runs in that transaction, so that a change and
// whatever must go with it (the events it causes, the notification of other
// replicas) commit together or not at all. fn's error rolls the
// transaction back and is returned. Called within a transaction, InTx joins
// it.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.wrap(ctx, s.transact(ctx, fn), "")
}

// transact is InTx without translating the error, for store methods that
// translate it themselves.
func (s *Store) transact(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(*txState); ok {
		return fn(ctx)
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	st := &txState{}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ctx := context.WithValue(ctx, txKey{s}, st)
		// The handle carries the context, and with it the state, to
		// whatever records an event on it (record).
		st.db = tx.WithContext(ctx)
		if err := fn(ctx); err != nil {
			return err
		}
		// The events go last, so that the chain's head, which appending
		// locks until the commit, is the last lock the transaction takes
		// and none waits for it holding another.
		var err error
		st.appended, err = s.writeEvents(st.db, st.events...)
		return err
	})
	if err == nil && len(st.appended) > 0 {
		s.published(st.appended)
	}
	return err
}

// txState is a transaction of the store: its handle, and the events of
// its changes, appended to the audit log when fn is done.
type txState struct {
	db       *gorm.DB
	events   []audit.Event
	appended []audit.Event
}

// tx runs fn in a transaction, InTx's, with its handle.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.transact(ctx, func(ctx context.Context) error { return fn(s.conn(ctx)) })
}

// conn returns the handle store methods run their statements on: the
// transaction ctx carries, or the pool.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{s}).(*txState); ok {
		return st.db
	}
	return s.db.WithContext(ctx)
}

// dbTime normalizes a time for storage: UTC, millisecond precision, the
// precision tokend shows. Both dialects then store and compare it alike.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
