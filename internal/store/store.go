// Package store keeps tokend's state in PostgreSQL or in an embedded SQLite
// file, through GORM. It applies the versioned migrations embedded in package
// schema and translates database failures into application errors: a
// database that cannot be reached is unavailable, never internal.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tokend/tokend/internal/apitoken"
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

	Users  *Users
	Tokens *Tokens
	Keys   *Keys
}

// Open connects to the database named by url: a postgres:// or
// postgresql:// URL, or sqlite:PATH for an SQLite file, which is created
// with its directory if missing. It does not apply migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	var dialector gorm.Dialector
	var dialect string
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		dsn, err := postgresDSN(url)
		if err != nil {
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
		// WAL lets readers run beside the writer; IMMEDIATE transactions
		// take the write lock up front, so concurrent writers wait for it
		// (busy_timeout) instead of failing to upgrade a read lock.
		dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
			"&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
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
	if dialect == Postgres {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	} else {
		sqlDB.SetMaxOpenConns(8)
	}
	s := &Store{db: db, dialect: dialect}
	s.Users = &Users{s}
	s.Tokens = &Tokens{s}
	s.Keys = &Keys{s}
	if err := s.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// postgresDSN adds a connect timeout to a URL that sets none, so that an
// unreachable server fails a request instead of hanging it.
func postgresDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("store: database URL is not a valid URL")
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
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

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return s.wrap(sqlDB.PingContext(ctx), "")
}

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// wrap translates a database error into an application error. notFound is
// the detail for a missing row; "" treats a missing row as internal.
func (s *Store) wrap(err error, notFound string) error {
	var appErr *apitoken.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &appErr):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound) && notFound != "":
		return apitoken.Errorf(apitoken.NotFound, "%s", notFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &apitoken.Error{Code: apitoken.Conflict, Detail: "already exists", Err: err}
	case unreachable(err):
		return &apitoken.Error{Code: apitoken.Unavailable, Detail: "The database is unavailable; try again shortly.", Err: err}
	}
	return &apitoken.Error{Code: apitoken.Internal, Detail: "Internal error.", Err: err}
}

// unreachable reports whether err means the database could not be reached
// or did not answer in time, as opposed to refusing a statement.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is connection exceptions, 57P0x the server shutting
		// down, 53300 too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0") || pgErr.Code == "53300"
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &netErr) ||
		errors.As(err, &connectErr) ||
		pgconn.Timeout(err) ||
		strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "database is locked")
}

// tx runs fn in a transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn)
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
