package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/webhook"
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
			sizes := vacuumedSizes(b, st)
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

// vacuumedSizes vacuums the database, as it would be after the maintenance
// it does by itself, and returns relationSizes.
func vacuumedSizes(b *testing.B, st *store.Store) []relation {
	b.Helper()
	ctx := context.Background()
	maintain := "VACUUM ANALYZE"
	if st.Dialect() == store.SQLite {
		maintain = "VACUUM"
	}
	if _, err := st.SQL().ExecContext(ctx, maintain); err != nil {
		b.Fatal(err)
	}
	sizes, err := relationSizes(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	return sizes
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

// BenchmarkAuditStorage measures what the audit log and the webhooks'
// outbox cost on disk, for the capacity model's growth per day: the bytes
// of audit_events (its indexes included) per event, and of
// webhook_deliveries and webhook_attempts per delivery, once
// TOKEND_BENCH_EVENTS tokens (default 20,000) have been created by an
// actor from an address, each recording its apiToken.created event, and
// each event has been fanned out to one webhook subscribed to every
// action and delivered at the first attempt.
//
//	go test -run '^$' -bench AuditStorage -benchtime 1x -timeout 30m ./internal/store
func BenchmarkAuditStorage(b *testing.B) {
	n := 20_000
	if s := os.Getenv("TOKEND_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			st := MustOpenDB(b, d)
			key := MustCreateKey(b, st, base)
			u := MustCreateUser(b, st, newUser(base))
			now := time.Now()
			mustCreateWebhook(b, st, now.Add(-time.Minute), "*")
			ctx := audit.WithActor(context.Background(), audit.Actor{UserID: u.ID, TokenID: uuid.NewString(),
				SourceIP: "203.0.113.17", UserAgent: "tokend-dashboard/1.4 (+https://example.com)"})
			for range n {
				tok := newToken(u.ID, key.ID, now)
				tok.Description, tok.Scope, tok.ClaimExpiration = "deploy bot", "customers accounts", tok.Expiration
				if err := st.Tokens.Create(ctx, &tok); err != nil {
					b.Fatal(err)
				}
			}
			for {
				fanned, err := st.Outbox.FanOut(ctx, 1000, now)
				if err != nil {
					b.Fatal(err)
				}
				if fanned == 0 {
					break
				}
			}
			delivered := 0
			for {
				claims, err := st.Outbox.Claim(ctx, now, time.Minute, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(claims) == 0 {
					break
				}
				for _, c := range claims {
					out := store.Outcome{Attempt: webhook.Attempt{At: now, StatusCode: 204, Duration: 3 * time.Millisecond}, Succeeded: true}
					if ok, err := st.Outbox.Record(ctx, c, out); !ok || err != nil {
						b.Fatalf("record = %v, %v", ok, err)
					}
					delivered++
				}
			}
			sizes := vacuumedSizes(b, st)
			var events, outbox int64
			for _, r := range sizes {
				switch {
				case strings.HasPrefix(r.name, "audit_events"):
					events += r.bytes
				case strings.HasPrefix(r.name, "webhook_deliveries"), strings.HasPrefix(r.name, "webhook_attempts"):
					outbox += r.bytes
				default:
					continue
				}
				fmt.Printf("%s %-40s %12d bytes\n", d, r.name, r.bytes)
			}
			fmt.Printf("%s %d events, %d deliveries\n", d, n, delivered)
			b.ReportMetric(float64(events)/float64(n), "B/event")
			b.ReportMetric(float64(outbox)/float64(delivered), "B/delivery")
			for range b.N {
			}
		})
	}
}
