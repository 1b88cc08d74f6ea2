// Package dbtest gives each test a real database of its own: an SQLite file
// always, and a PostgreSQL database when TOKEND_TEST_DATABASE_URL names a
// server. There are no mocks: tests run against the same store code and the
// same migrations as production.
//
// A migrated database is a copy of a template that holds the migrations
// embedded in package schema, migrated once: on PostgreSQL a template
// database per set of migrations, shared by test processes, as
// github.com/peterldowns/pgtestdb does it; for SQLite a file migrated once
// per test process. On PostgreSQL every test gets a database, not a schema,
// so that what is scoped to a database, such as LISTEN and NOTIFY, never
// crosses between tests. Databases are dropped, and files removed, when the
// test ends, whether it passed or not.
//
// When TOKEND_TEST_DATABASE_URL is set, a server that cannot be reached
// fails the test; it never skips it. The role it names needs the CREATEDB
// privilege.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/schema"
)

// EnvURL is the environment variable naming the PostgreSQL server tests use.
const EnvURL = "TOKEND_TEST_DATABASE_URL"

// Dialects returns the dialects tests run against here: SQLite, and
// PostgreSQL when EnvURL is set.
func Dialects() []string {
	if os.Getenv(EnvURL) != "" {
		return []string{store.SQLite, store.Postgres}
	}
	return []string{store.SQLite}
}

// Each runs fn as a subtest for every dialect in Dialects, each with the URL
// of a fresh, migrated database.
func Each(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, NewURL(t, d))
		})
	}
}

// NewURL returns the URL of a fresh database of the dialect that holds
// every migration, dropped or removed when the test ends. Migrating it
// again applies nothing.
func NewURL(tb testing.TB, dialect string) string {
	tb.Helper()
	switch dialect {
	case store.SQLite:
		file, err := sqliteTemplate()
		if err != nil {
			tb.Fatalf("dbtest: migrate the SQLite template: %v", err)
		}
		path := filepath.Join(tb.TempDir(), "tokend.db")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			tb.Fatalf("dbtest: %v", err)
		}
		return "sqlite:" + path
	case store.Postgres:
		return newDatabase(tb, templateDatabase(tb))
	}
	tb.Fatalf("dbtest: unknown dialect %q", dialect)
	return ""
}

// NewEmptyURL returns the URL of a fresh, empty database of the dialect,
// dropped or removed when the test ends: no table, not even
// schema_migrations. It is for tests of migrating itself; the SQLite file
// does not exist until the store opens it.
func NewEmptyURL(tb testing.TB, dialect string) string {
	tb.Helper()
	switch dialect {
	case store.SQLite:
		return "sqlite:" + filepath.Join(tb.TempDir(), "tokend.db")
	case store.Postgres:
		return newDatabase(tb, "template0")
	}
	tb.Fatalf("dbtest: unknown dialect %q", dialect)
	return ""
}

// MustOpen returns a store on a fresh, migrated database of the dialect,
// closed when the test ends.
func MustOpen(tb testing.TB, dialect string) *store.Store {
	tb.Helper()
	return MustOpenURL(tb, NewURL(tb, dialect))
}

// MustOpenURL opens the database at url and applies the migrations it
// lacks, and closes it when the test ends.
func MustOpenURL(tb testing.TB, url string) *store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	if err != nil {
		tb.Fatalf("dbtest: open %s: %v", redact(url), err)
	}
	tb.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatalf("dbtest: migrate: %v", err)
	}
	return st
}

// sqliteTemplate returns the contents of an SQLite file that holds every
// migration. It migrates one in a directory of its own, once per test
// process, and removes the directory, so nothing outlives the process.
var sqliteTemplate = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "tokend-dbtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tokend.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		return nil, err
	}
	_, err = st.Migrate(ctx)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Closing the last connection moved the write-ahead log into the
	// file; a log left beside it would hold part of the database.
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil, errors.New("the write-ahead log outlived the last connection")
	}
	return os.ReadFile(path)
})

// newDatabase creates a database of the test's own on the server named by
// EnvURL, a copy of template, drops it when the test ends, and returns its
// URL.
func newDatabase(tb testing.TB, template string) string {
	tb.Helper()
	base := serverURL(tb)
	b := make([]byte, 6)
	rand.Read(b)
	name := "tokend_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if err := admin(base, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{template}.Sanitize()); err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		// FORCE ends the sessions the test left open, which would
		// otherwise keep the database from being dropped.
		if err := admin(base, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			tb.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	u, err := databaseURL(base, name)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return u
}

// templates holds, per template database name, the outcome of making sure
// it exists, so that each test process does so once.
var templates sync.Map // name → func() error, from sync.OnceValue

// templateDatabase returns the name of the template database holding the
// migrations embedded in package schema, creating it if no test process
// has yet.
//
// The name carries a hash of the migrations, so a change to them makes a
// new template, and test processes of different versions, running against
// one server at once, never share one. A session advisory lock on the name
// lets one process create it while the others wait; it is marked a
// template, which also makes it ready, only once migrated, and closed to
// connections, since a database with another session in it cannot be
// copied.
func templateDatabase(tb testing.TB) string {
	tb.Helper()
	hash, err := hashFiles(schema.Migrations)
	if err != nil {
		tb.Fatalf("dbtest: hash the migrations: %v", err)
	}
	name := "tokend_tpl_" + hash
	base := serverURL(tb)
	ensure, _ := templates.LoadOrStore(name, sync.OnceValue(func() error {
		return createTemplate(base, name)
	}))
	if err := ensure.(func() error)(); err != nil {
		tb.Fatalf("dbtest: template database %s: %v", name, err)
	}
	return name
}

// createTemplate creates the template database name on the server at base,
// unless a ready one exists.
func createTemplate(base, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s is unreachable: %w", redact(base), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	h := fnv.New64a()
	h.Write([]byte(name))
	lock := int64(h.Sum64())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lock); err != nil {
		return err
	}
	// Closing the session would release the lock too; unlocking keeps the
	// other processes from waiting for that.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lock)

	var ready bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&ready)
	if err != nil || ready {
		return err
	}
	// A database by that name that is not marked a template is what is left
	// of a process that died while migrating it.
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		return err
	}
	u, err := databaseURL(base, name)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, u)
	if err != nil {
		return err
	}
	_, err = st.Migrate(ctx)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
	return err
}

// hashFiles returns a hash of the path and the contents of every file in
// fsys, 16 hex digits long: a change to any file, or a file added, removed
// or renamed, changes it.
func hashFiles(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		// Lengths keep one file's end from passing for the next one's
		// start.
		fmt.Fprintf(h, "%d:%s%d:", len(path), path, len(body))
		h.Write(body)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// adminPools holds, per server URL, the pool of connections that create
// and drop the tests' databases, shared by the tests of a process.
var adminPools sync.Map // URL → func() (*pgxpool.Pool, error), from sync.OnceValues

// admin runs the statement sql on the server at base, through a connection
// to base's own database.
func admin(base, sql string) error {
	open, _ := adminPools.LoadOrStore(base, sync.OnceValues(func() (*pgxpool.Pool, error) {
		return pgxpool.New(context.Background(), base)
	}))
	pool, err := open.(func() (*pgxpool.Pool, error))()
	if err != nil {
		return fmt.Errorf("%s: %w", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = pool.Exec(ctx, sql)
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return fmt.Errorf("PostgreSQL at %s is unreachable: %w", redact(base), err)
	}
	return err
}

// serverURL returns EnvURL's value, failing the test if it is not set.
func serverURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		tb.Fatalf("dbtest: %s is not set", EnvURL)
	}
	return base
}

// databaseURL returns base with its database replaced by name.
func databaseURL(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a password in a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
