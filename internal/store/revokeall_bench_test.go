package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// benchRevokeAll is how many live tokens the user of BenchmarkRevokeAll
// holds.
const benchRevokeAll = 100_000

// BenchmarkRevokeAll measures Tokens.RevokeAll of a user holding 100,000
// live tokens (a third of them disabled) beside another user's 20,000, on
// each database, against its baseline: one UPDATE of the same rows,
// stamping them with a change number, in one transaction, with no count
// kept, the least a revocation of them that reaches the revocation feed
// costs. It reports both times and their ratio, and
// checks that every total is right afterwards. Figures: BENCHMARKS.md. Run
// it with -benchtime 1x:
//
//	TOKEND_TEST_DATABASE_URL=postgres://… go test -run '^$' -bench RevokeAll -benchtime 1x ./internal/store/
func BenchmarkRevokeAll(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			url := dbtest.NewURL(b, d)
			st := dbtest.MustOpenURL(b, url)
			raw := rawDB(b, url)
			key := MustCreateKey(b, st, base)
			now := time.Now()
			seed := func(n int) string {
				b.Helper()
				user := MustCreateUser(b, st, newUser(now))
				toks := make([]apitoken.Token, n)
				for i := range toks {
					toks[i] = newToken(user.ID, key.ID, now.Add(-time.Duration(n-i)*time.Millisecond))
					toks[i].Expiration = now.Add(time.Duration(1+i%30) * 24 * time.Hour).Truncate(time.Second)
					toks[i].ClaimExpiration, toks[i].Enabled = toks[i].Expiration, i%3 != 0
				}
				if err := st.Tokens.BulkCreate(ctx, toks); err != nil {
					b.Fatal(err)
				}
				if _, err := st.Tokens.FoldCounts(ctx); err != nil {
					b.Fatal(err)
				}
				return user.ID
			}
			bystander := seed(20_000)
			for range b.N {
				baseline := seed(benchRevokeAll)
				start := time.Now()
				res := raw.Exec("UPDATE api_tokens SET revoked_at = ?, updated_at = ?, change_seq = (SELECT seq FROM change_counter) + 1 "+
					"WHERE user_id = ? AND revoked_at IS NULL AND expiration > ?", now, now, baseline, now)
				rawTook := time.Since(start)
				if res.Error != nil || res.RowsAffected != benchRevokeAll {
					b.Fatalf("the baseline revoked %d, %v", res.RowsAffected, res.Error)
				}

				user := seed(benchRevokeAll)
				start = time.Now()
				ids, err := st.Tokens.RevokeAll(ctx, user, time.Now())
				took := time.Since(start)
				if err != nil || len(ids) != benchRevokeAll {
					b.Fatalf("RevokeAll revoked %d, %v", len(ids), err)
				}
				b.ReportMetric(float64(rawTook.Milliseconds()), "raw-ms")
				b.ReportMetric(float64(took.Milliseconds()), "revoke-all-ms")
				b.ReportMetric(took.Seconds()/rawTook.Seconds(), "ratio")

				for _, tc := range []struct {
					owner    string
					statuses []apitoken.Status
					want     int64
				}{{user, []apitoken.Status{apitoken.StatusRevoked}, benchRevokeAll}, {user, nil, 0}, {bystander, nil, 20_000}} {
					page, err := st.Tokens.List(ctx, apitoken.TokenFilter{UserID: tc.owner, Statuses: tc.statuses, Now: time.Now(), Limit: 1})
					if err != nil || page.Total != tc.want {
						b.Fatalf("total of %v: %d, %v; want %d", tc.statuses, page.Total, err, tc.want)
					}
				}
			}
		})
	}
}
