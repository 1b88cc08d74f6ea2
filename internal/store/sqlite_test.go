package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/store"
)

// TestSQLiteConnectionsReadThroughAMemoryMap checks that every SQLite
// connection of the pool maps the file (mmap_size) and is in WAL mode, and
// that reads through the map see what was written before and after the
// write-ahead log was checkpointed into the file.
func TestSQLiteConnectionsReadThroughAMemoryMap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.SQLite)
	db := f.st.SQL()
	// Hold several connections at once, so that the pool opens them.
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var size int64
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&size); err != nil || size != 1<<30 {
			t.Fatalf("mmap_size = %d, %v; want %d", size, err, 1<<30)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v", mode, err)
		}
	}
	before := MustCreateToken(t, f.st, f.token(base))
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	after := MustCreateToken(t, f.st, f.token(base.Add(time.Second)))
	for _, id := range []string{before.ID, after.ID} {
		if _, err := f.st.Tokens.Get(ctx, f.user.ID, id); err != nil {
			t.Errorf("token %s: %v", id, err)
		}
	}
}
