// Package dbtest gives tests their own real database: a fresh SQLite file
// always, and a fresh PostgreSQL schema when TOKEND_TEST_DATABASE_URL names a
// server. There are no mocks: tests run against the same store code and the
// same migrations as production.
//
// When TOKEND_TEST_DATABASE_URL is set, a server that cannot be reached
// fails the test; it never skips it.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokend/tokend/internal/store"
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

// Each runs fn as a subtest for every dialect in Dialects, each with a
// fresh, empty database URL.
func Each(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, NewURL(t, d))
		})
	}
}

// NewURL returns the URL of a fresh, empty database of the dialect, removed
// when the test ends.
func NewURL(tb testing.TB, dialect string) string {
	tb.Helper()
	switch dialect {
	case store.SQLite:
		return "sqlite:" + filepath.Join(tb.TempDir(), "tokend.db")
	case store.Postgres:
		return newSchema(tb)
	}
	tb.Fatalf("dbtest: unknown dialect %q", dialect)
	return ""
}

// MustOpen returns a migrated store on a fresh database of the dialect,
// closed when the test ends.
func MustOpen(tb testing.TB, dialect string) *store.Store {
	tb.Helper()
	return MustOpenURL(tb, NewURL(tb, dialect))
}

// MustOpenURL opens and migrates the database at url, and closes it when the
// test ends.
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

// newSchema creates a schema of its own for the test on the server named by
// EnvURL and returns a URL whose search_path selects it.
func newSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		tb.Fatalf("dbtest: %s is not set", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("dbtest: PostgreSQL at %s is unreachable: %v", redact(base), err)
	}
	defer conn.Close(ctx)

	b := make([]byte, 6)
	rand.Read(b)
	schema := "tokend_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("dbtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("dbtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("dbtest: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("dbtest: %s is not a URL: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redact hides a password in a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
