package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver the store uses

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// TestFailuresAreClassifiedPrecisely checks, with failures caused for real,
// that only an unreachable or silent database counts as an outage: a
// caller that gave up and a busy database are unavailable for the request,
// not a sign that the database is down.
func TestFailuresAreClassifiedPrecisely(t *testing.T) {
	t.Parallel()
	type outcome struct {
		code   apitoken.Code
		outage bool
	}
	check := func(t *testing.T, err error, want outcome) {
		t.Helper()
		if code := apitoken.ErrorCode(err); code != want.code {
			t.Fatalf("code = %q (%v), want %q", code, err, want.code)
		}
		if got := errors.Is(err, store.ErrOutage); got != want.outage {
			t.Fatalf("outage = %v (%v), want %v", got, err, want.outage)
		}
	}
	unavailable, down, internal := outcome{apitoken.Unavailable, false}, outcome{apitoken.Unavailable, true}, outcome{apitoken.Internal, false}

	for _, d := range dbtest.Dialects() {
		t.Run("a canceled request is not an outage/"+d, func(t *testing.T) {
			st := MustOpenDB(t, d)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := st.Users.Get(ctx, uuid.NewString())
			check(t, err, unavailable)
		})
		// pgx reports a statement whose context ended before it was sent
		// as a timeout, whether the deadline passed or the caller hung up.
		if d == store.Postgres {
			t.Run("a request canceled as its statement is sent is not an outage", func(t *testing.T) {
				st := MustOpenDB(t, d)
				conn, err := pgx.Connect(context.Background(), store.DSN(st))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_, err = conn.Exec(ctx, "SELECT 1")
				if !pgconn.Timeout(err) {
					t.Fatalf("pgx's error %v is no longer a timeout: this test no longer covers the case", err)
				}
				check(t, store.Wrap(st, err), unavailable)
				if st.Down() {
					t.Error("the store marked the database down")
				}
			})
		}
		// A PostgreSQL server that does not answer in time is down; an
		// SQLite file is local, and time past a deadline was spent waiting
		// for its write lock.
		want, what := down, "an outage"
		if d == store.SQLite {
			want, what = unavailable, "busy, not an outage"
		}
		t.Run("a statement past its deadline is "+what+"/"+d, func(t *testing.T) {
			st := MustOpenDB(t, d)
			ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
			defer cancel()
			<-ctx.Done()
			_, err := st.Users.Get(ctx, uuid.NewString())
			check(t, err, want)
		})
	}
	t.Run("a call whose caller hung up is not an outage, whatever the driver says", func(t *testing.T) {
		// pgx closes the connection of a canceled statement, and reports
		// the statement as one that lost its connection.
		st := MustOpenDB(t, store.SQLite)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		check(t, store.WrapCall(ctx, st, io.ErrUnexpectedEOF), unavailable)
		if st.Down() {
			t.Error("the store marked the database down")
		}
		check(t, store.WrapCall(context.Background(), st, io.ErrUnexpectedEOF), down)
	})
	t.Run("a pooled connection found closed is not an outage", func(t *testing.T) {
		st := MustOpenDB(t, store.SQLite)
		check(t, store.Wrap(st, driver.ErrBadConn), unavailable)
		check(t, store.Wrap(st, sql.ErrConnDone), unavailable)
	})
	t.Run("a refused connection is an outage", func(t *testing.T) {
		_, err := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
		check(t, err, down)
	})
	t.Run("a server that never answers is an outage", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := store.Open(ctx, "postgres://postgres@"+silentServer(t)+"/x?sslmode=disable")
		check(t, err, down)
	})
	t.Run("SQLite's write lock held by another process is busy, not an outage", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokend.db")
		st := dbtest.MustOpenURL(t, "sqlite:"+path)
		// Another process holds the write lock; the store's busy
		// timeout is too long for a test, so the statement that meets
		// the lock runs on a connection with none, and its real error
		// goes through the store's classification.
		holder := rawSQLite(t, path, 0)
		tx, err := holder.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'lock', CURRENT_TIMESTAMP)"); err != nil {
			t.Fatal(err)
		}
		_, busyErr := rawSQLite(t, path, 0).Exec("DELETE FROM users")
		if busyErr == nil {
			t.Fatal("a write succeeded while another connection held the lock")
		}
		check(t, store.Wrap(st, busyErr), unavailable)
	})
	t.Run("a statement the database refuses is internal", func(t *testing.T) {
		st := MustOpenDB(t, store.SQLite)
		check(t, store.Wrap(st, st.SQL().QueryRow("SELECT no_such_column FROM users").Scan(new(int))), internal)
	})
}

// rawSQLite opens the SQLite file with its own connection and the busy
// timeout in milliseconds, outside the store.
func rawSQLite(tb testing.TB, path string, busyTimeout int) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout("+strconv.Itoa(busyTimeout)+")")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}
