package app_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// Sizes of BenchmarkPurge.
const (
	benchPurgeable = 200_000 // tokens past the retention, purged in each round
	benchLive      = 20_000  // tokens that stay, beside them
	benchWriters   = 4       // goroutines creating tokens one at a time
	benchCreates   = 500     // creations of each writer without a purge
)

// BenchmarkPurge measures the purge of 200,000 tokens past the default
// retention, beside 20,000 live ones, on each database: its rate alone
// (purge-rows/s), then, on as many tokens again, its rate while four
// goroutines create tokens one at a time through the service
// (loaded-purge-rows/s), and the latency of those creations, during that
// purge and, as the baseline, with no purge (median and 99th percentile),
// with the count of those that missed their deadline. Figures and what
// they showed: BENCHMARKS.md. Run it with -benchtime 1x:
//
//	TOKEND_TEST_DATABASE_URL=postgres://… go test -run '^$' -bench Purge -benchtime 1x ./internal/app/
func BenchmarkPurge(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			srv := tokendtest.Start(b, tokendtest.Options{DatabaseURL: dbtest.NewURL(b, d), Env: map[string]string{
				"TOKEND_TOKEN_RETENTION": "off", "TOKEND_RATE_TOKEN_CREATES": "off"}})
			ctx := context.Background()
			key, err := srv.Store.Keys.ActiveKey(ctx)
			if err != nil {
				b.Fatal(err)
			}
			seed := func(n int, exp, revoked time.Time) {
				b.Helper()
				toks := make([]apitoken.Token, n)
				for i := range toks {
					toks[i] = pastToken(srv.AdminID, key.ID, exp.Add(time.Duration(i)*time.Millisecond), revoked)
				}
				if err := srv.Store.Tokens.BulkCreate(ctx, toks); err != nil {
					b.Fatal(err)
				}
			}
			// Half the tokens past the retention expired, half were revoked.
			past := func() {
				now := time.Now()
				seed(benchPurgeable/2, now.Add(-500*day), time.Time{})
				seed(benchPurgeable/2, now.Add(-450*day), now.Add(-600*day))
			}
			purge := func() (rate float64) {
				b.Helper()
				now := time.Now()
				start := time.Now()
				n, err := srv.Store.Tokens.Purge(ctx, now.Add(-400*day), now.Add(-5*time.Second))
				if err != nil || n != benchPurgeable {
					b.Fatalf("Purge = %d, %v; want %d", n, err, benchPurgeable)
				}
				return float64(n) / time.Since(start).Seconds()
			}
			seed(benchLive, time.Now().Add(300*day), time.Time{})

			for range b.N {
				past()
				b.ReportMetric(purge(), "purge-rows/s")

				idle, idleFailed := creates(b, srv, func(done int) bool { return done >= benchCreates })
				past()
				purged := make(chan struct{})
				var loaded []time.Duration
				var loadedFailed int
				var wg sync.WaitGroup
				wg.Go(func() {
					loaded, loadedFailed = creates(b, srv, func(int) bool {
						select {
						case <-purged:
							return true
						default:
							return false
						}
					})
				})
				rate := purge()
				close(purged)
				wg.Wait()
				b.ReportMetric(rate, "loaded-purge-rows/s")
				b.ReportMetric(ms(percentile(idle, 50)), "create-p50-ms")
				b.ReportMetric(ms(percentile(idle, 99)), "create-p99-ms")
				b.ReportMetric(ms(percentile(loaded, 50)), "purging-create-p50-ms")
				b.ReportMetric(ms(percentile(loaded, 99)), "purging-create-p99-ms")
				b.ReportMetric(float64(len(loaded)), "purging-creates")
				b.ReportMetric(float64(idleFailed), "create-failures")
				b.ReportMetric(float64(loadedFailed), "purging-create-failures")
			}
		})
	}
}

// creates has benchWriters goroutines create tokens through the service,
// one at a time, each until stop says so after its latest creation (given
// how many it made), and returns every creation's latency, sorted, and how
// many failed. A failure is a creation that could not have the database
// within its deadline (busy, unavailable): its latency counts too. Each
// writer moves to a new user every 500 tokens, within the default cap on a
// user's live tokens.
func creates(b *testing.B, srv *tokendtest.Server, stop func(done int) bool) (_ []time.Duration, failed int) {
	b.Helper()
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for range benchWriters {
		wg.Go(func() {
			ctx := context.Background()
			desc, scope := "bench", "customers"
			var took []time.Duration
			var user string
			fails := 0
			for done := 0; !stop(done); done++ {
				for user == "" || done%500 == 0 {
					u, err := srv.Service.AddUser(ctx, apitoken.UserRequest{
						Email: uuid.NewString() + "@example.com", Role: string(apitoken.RoleMember)})
					if err == nil {
						user = u.ID
						break
					}
					if apitoken.ErrorCode(err) != apitoken.Unavailable {
						b.Errorf("create a user: %v", err)
						return
					}
				}
				exp := time.Now().Add(30 * day).UTC().Format(time.RFC3339)
				start := time.Now()
				_, _, err := srv.Service.IssueToken(ctx, user, apitoken.TokenRequest{Description: &desc, Scope: &scope, Expiration: &exp})
				took = append(took, time.Since(start))
				switch apitoken.ErrorCode(err) {
				case "":
				case apitoken.Unavailable:
					fails++
				default:
					b.Errorf("create a token: %v", err)
					return
				}
			}
			mu.Lock()
			all = append(all, took...)
			failed += fails
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	return all, failed
}

// percentile returns the p-th percentile of sorted latencies.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
