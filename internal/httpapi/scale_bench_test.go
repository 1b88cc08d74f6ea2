package httpapi_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/httpapi"
	"github.com/tokend/tokend/internal/store"
)

// BenchmarkListAtScale measures list requests, one at a time, on a
// database of a million tokens of mixed statuses (dbtest.MixedTokens): a
// user with 100,000 and another with 900,000. Each sub-benchmark sends
// b.N requests and reports their p50 and p99; run it with
// -benchtime=200x. The raw/ sub-benchmarks are the baseline, in the same
// run: the first page's SELECT alone, and the count(*) that
// meta.pagination.total cost before tokend kept counts.
//
//	go test ./internal/httpapi -run '^$' -bench ListAtScale -benchtime=200x -timeout 30m
func BenchmarkListAtScale(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d)})
			user, other := h.user(apitoken.RoleMember), h.user(apitoken.RoleMember)
			key := h.Ring.Records()[0].ID
			now := time.Now()
			mine := dbtest.MixedTokens(user, key, 100_000, now)
			if err := h.Store.Tokens.BulkCreate(ctx, mine); err != nil {
				b.Fatal(err)
			}
			if err := h.Store.Tokens.BulkCreate(ctx, dbtest.MixedTokens(other, key, 900_000, now)); err != nil {
				b.Fatal(err)
			}
			if _, err := h.Store.Tokens.FoldCounts(ctx); err != nil {
				b.Fatal(err)
			}
			if d == store.Postgres {
				// What autovacuum does after a bulk load.
				if _, err := h.Store.SQL().Exec("VACUUM ANALYZE api_tokens"); err != nil {
					b.Fatal(err)
				}
			}
			deep := url.QueryEscape(httpapi.EncodeListCursor(apitoken.PositionOf(&mine[99_800])))
			mineDesc := url.QueryEscape(httpapi.EncodeListCursor(apitoken.PositionOf(&mine[200])))
			userPath, all := tokensPath(user), "/api-tokens"
			for _, c := range []struct{ name, path string }{
				{"user/first-page", userPath},
				{"user/cursor-deep", userPath + "?page[after]=" + deep},
				{"user/cursor-deep-newest-first", userPath + "?sort=-createdAt&page[after]=" + mineDesc},
				{"user/offset-89900", userPath + "?page[offset]=89900"},
				{"user/active", userPath + "?filter[status]=active"},
				{"user/expired", userPath + "?filter[status]=expired"},
				{"user/disabled", userPath + "?filter[status]=disabled"},
				{"user/revoked-newest-first", userPath + "?filter[status]=revoked&sort=-createdAt"},
				{"user/revoked-cursor-deep", userPath + "?filter[status]=revoked&page[after]=" + deep},
				{"all/first-page", all},
				{"all/cursor-deep", all + "?page[after]=" + deep},
				{"all/newest-first", all + "?sort=-createdAt"},
				{"all/revoked", all + "?filter[status]=revoked"},
				{"all/user-filter", all + "?filter[userId]=" + user + "&filter[status]=active,expired"},
				{"all/offset-899900", all + "?page[offset]=899900"},
			} {
				b.Run(c.name, func(b *testing.B) {
					client := benchClient()
					measure(b, func() { getOK(b, client, h.URL+c.path, h.AdminToken) })
				})
			}
			db := h.Store.SQL()
			for _, c := range []struct{ name, query string }{
				{"raw/first-page-select", "SELECT * FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id LIMIT 100"},
				{"raw/user-count", "SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL"},
				{"raw/all-count", "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL AND user_id <> $1"},
			} {
				b.Run(c.name, func(b *testing.B) {
					measure(b, func() {
						rows, err := db.Query(c.query, user)
						if err != nil {
							b.Fatal(err)
						}
						for rows.Next() {
						}
						rows.Close()
					})
				})
			}
		})
	}
}

// measure runs op b.N times, one after the other, and reports the p50 and
// p99 of their durations in milliseconds.
func measure(b *testing.B, op func()) {
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		op()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkListPage measures one page of 100 tokens, from a user with
// 1,000, through the whole server: for profiles of the list path.
//
//	go test ./internal/httpapi -run '^$' -bench ListPage -cpuprofile cpu.out
func BenchmarkListPage(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d)})
			user := h.user(apitoken.RoleMember)
			if err := h.Store.Tokens.BulkCreate(context.Background(), dbtest.MixedTokens(user, h.Ring.Records()[0].ID, 1000, time.Now())); err != nil {
				b.Fatal(err)
			}
			client := benchClient()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				getOK(b, client, h.URL+tokensPath(user), h.AdminToken)
			}
		})
	}
}
