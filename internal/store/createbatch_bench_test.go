package store_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
)

// BenchmarkCreateBelow measures Tokens.CreateBelow from 8 goroutines at
// once, all for one user far from its cap: the store's part of
// POST /users/:userId/api-tokens, without HTTP or signing.
func BenchmarkCreateBelow(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			st := MustOpenDB(b, d)
			benchCreateBelow(b, []*store.Store{st}, MustCreateUser(b, st, newUser(base)), MustCreateKey(b, st, base))
		})
	}
}

// BenchmarkCreateBelowTwoReplicas is BenchmarkCreateBelow with the 8
// goroutines shared by two stores on one PostgreSQL database, as two
// replicas: each one's batches move the audit chain's head under the
// other's, which then writes its batches in two round trips.
func BenchmarkCreateBelowTwoReplicas(b *testing.B) {
	if !slices.Contains(dbtest.Dialects(), store.Postgres) {
		b.Skip("batches of creations are PostgreSQL's; set " + dbtest.EnvURL)
	}
	url := dbtest.NewURL(b, store.Postgres)
	a := dbtest.MustOpenURL(b, url)
	benchCreateBelow(b, []*store.Store{a, dbtest.MustOpenURL(b, url)}, MustCreateUser(b, a, newUser(base)), MustCreateKey(b, a, base))
}

// benchCreateBelow runs CreateBelow from 8 goroutines spread over the
// stores, for the user with the key, folding the count changes as serve
// folds them while tokens change, and reports the CPU a row cost, the
// rows a batch held and the share of batches written in one round trip.
func benchCreateBelow(b *testing.B, stores []*store.Store, user apitoken.User, key keys.Record) {
	var batches, rows, oneTrip atomic.Int64
	for _, st := range stores {
		store.OnCreateBatch(st, func(n int) { batches.Add(1); rows.Add(int64(n)) })
		store.OnCreateBatchWritten(st, func(one bool) {
			if one {
				oneTrip.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	var folding sync.WaitGroup
	folding.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				stores[0].Tokens.FoldCounts(context.Background())
			}
		}
	})
	defer func() { close(stop); folding.Wait() }()
	var next atomic.Int64
	b.SetParallelism(4)
	cpu := dbtest.StartCPU(stores[0].SQL())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		st := stores[int(next.Add(1))%len(stores)]
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
		b.ReportMetric(float64(oneTrip.Load())/float64(n), "one-trip/batch")
	}
}
