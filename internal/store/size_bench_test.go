package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// BenchmarkStorageAtScale measures what tokens cost on disk, for the
// capacity model (docs/capacity.md): the bytes of api_tokens, of each of
// its indexes and of the counts, per token, once a database holds
// TOKEND_BENCH_TOKENS tokens (default 1,000,000) of a thousand users, of
// mixed statuses as dbtest.MixedTokens makes them, after the maintenance a
// database does by itself (VACUUM ANALYZE, the counts folded).
//
//	go test -run '^$' -bench StorageAtScale -benchtime 1x -timeout 30m ./internal/store
func BenchmarkStorageAtScale(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("TOKEND_BENCH_TOKENS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	const users = 1000
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			st := MustOpenDB(b, d)
			key := MustCreateKey(b, st, base)
			now := time.Now()
			for range users {
				u := MustCreateUser(b, st, newUser(base))
				if err := st.Tokens.BulkCreate(ctx, dbtest.MixedTokens(u.ID, key.ID, n/users, now)); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := st.Tokens.FoldCounts(ctx); err != nil {
				b.Fatal(err)
			}
			maintain := "VACUUM ANALYZE"
			if d == store.SQLite {
				maintain = "VACUUM"
			}
			if _, err := st.SQL().ExecContext(ctx, maintain); err != nil {
				b.Fatal(err)
			}
			sizes, err := relationSizes(ctx, st)
			if err != nil {
				b.Fatal(err)
			}
			var total int64
			for _, r := range sizes {
				total += r.bytes
				fmt.Printf("%s %-40s %12d bytes %8.1f B/token\n", d, r.name, r.bytes, float64(r.bytes)/float64(n))
			}
			fmt.Printf("%s %-40s %12d bytes %8.1f B/token\n", d, "all tables and indexes", total, float64(total)/float64(n))
			b.ReportMetric(float64(total)/float64(n), "B/token")
			for range b.N {
			}
		})
	}
}

// relation is a table or an index and its size.
type relation struct {
	name  string
	bytes int64
}

// relationSizes returns the size of every table and index of the
// database: on PostgreSQL each relation's own size (a table's TOAST
// included), on SQLite, whose driver has no dbstat, what the file shrinks
// by when the index or table is dropped and the file vacuumed (which
// leaves the benchmark's database empty).
func relationSizes(ctx context.Context, st *store.Store) ([]relation, error) {
	db := st.SQL()
	if st.Dialect() == store.Postgres {
		rows, err := db.QueryContext(ctx, `SELECT c.relname, CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 2 DESC`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []relation
		for rows.Next() {
			var r relation
			if err := rows.Scan(&r.name, &r.bytes); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	size := func() (int64, error) {
		var pages, pageSize int64
		if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			return 0, err
		}
		err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize)
		return pages * pageSize, err
	}
	var objects []relation // name, and 0 for an index, 1 for a table
	rows, err := db.QueryContext(ctx, `SELECT name, type = 'table' FROM sqlite_master
		WHERE type IN ('index', 'table') AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table', name`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r relation
		if err := rows.Scan(&r.name, &r.bytes); err != nil {
			rows.Close()
			return nil, err
		}
		objects = append(objects, r)
	}
	rows.Close()
	before, err := size()
	if err != nil {
		return nil, err
	}
	var out []relation
	for _, o := range objects {
		kind := "INDEX"
		if o.bytes == 1 {
			kind = "TABLE"
		}
		if _, err := db.ExecContext(ctx, "DROP "+kind+" "+o.name); err != nil {
			return nil, err
		}
		if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
			return nil, err
		}
		after, err := size()
		if err != nil {
			return nil, err
		}
		out = append(out, relation{o.name, before - after})
		before = after
	}
	return out, nil
}
