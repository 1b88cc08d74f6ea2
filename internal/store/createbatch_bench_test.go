package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// BenchmarkCreateBelow measures Tokens.CreateBelow from 8 goroutines at
// once, all for one user far from its cap: the store's part of
// POST /users/:userId/api-tokens, without HTTP or signing.
func BenchmarkCreateBelow(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			st := MustOpenDB(b, d)
			user := MustCreateUser(b, st, newUser(base))
			key := MustCreateKey(b, st, base)
			var batches, rows atomic.Int64
			store.OnCreateBatch(st, func(n int) { batches.Add(1); rows.Add(int64(n)) })
			// Count changes are folded as serve folds them while tokens
			// change.
			stop := make(chan struct{})
			folded := make(chan struct{})
			go func() {
				defer close(folded)
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						st.Tokens.FoldCounts(context.Background())
					}
				}
			}()
			defer func() { close(stop); <-folded }()
			b.SetParallelism(4)
			cpu := dbtest.StartCPU(st.SQL())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					now := time.Now()
					tok := newToken(user.ID, key.ID, now)
					tok.ClaimExpiration = tok.Expiration
					if ok, err := st.Tokens.CreateBelow(context.Background(), &tok, now, 1_000_000_000); err != nil || !ok {
						b.Fatal(ok, err)
					}
				}
			})
			b.StopTimer()
			cpu.Report(b, "row")
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(rows.Load())/float64(n), "rows/batch")
			}
		})
	}
}
