package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// TestFlushAfterAnAsynchronousCommitWaitsForIt checks what the batches of
// creations rely on to answer only what is durable: after a transaction
// that commits asynchronously, the wait (store.FlushWALSQL) returns only
// once the WAL is flushed past that commit. A wait PostgreSQL does not
// honour (a transaction that takes an id and writes no WAL, as
// txid_current() does) returns at once, before the WAL writer's next
// round, and fails this test.
func TestFlushAfterAnAsynchronousCommitWaitsForIt(t *testing.T) {
	if !slices.Contains(dbtest.Dialects(), store.Postgres) {
		t.Skip("asynchronous commits are PostgreSQL's; set " + dbtest.EnvURL)
	}
	ctx := context.Background()
	db := rawDB(t, dbtest.NewURL(t, store.Postgres))
	conn, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	c, err := conn.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT "+store.AsyncCommitSQL); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE change_counter SET seq = seq"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var committed string
		if err := c.QueryRowContext(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&committed); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, store.FlushWALSQL); err != nil {
			t.Fatal(err)
		}
		var flushed bool
		if err := c.QueryRowContext(ctx, "SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", committed).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			t.Fatalf("round %d: the wait returned before the WAL was flushed past the asynchronous commit (%s)", i, committed)
		}
	}
}
