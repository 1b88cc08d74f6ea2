package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// checkTotals checks the total List reports, for the user and for
// everyone, for every combination of statuses, at each of the instants,
// against the statuses of every token stored (Token.Status is the oracle).
func checkTotals(t *testing.T, st *store.Store, userID string, instants []time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, owner := range []string{userID, ""} {
		all, err := st.Tokens.List(ctx, apitoken.TokenFilter{UserID: owner, Statuses: apitoken.Statuses, Now: base, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(all.Tokens)) != all.Total {
			t.Fatalf("user %q: %d tokens stored, total %d", owner, len(all.Tokens), all.Total)
		}
		for _, at := range instants {
			for mask := range 1 << len(apitoken.Statuses) {
				var statuses []apitoken.Status
				for b, s := range apitoken.Statuses {
					if mask&(1<<b) != 0 {
						statuses = append(statuses, s)
					}
				}
				var want int64
				for _, tok := range all.Tokens {
					s := tok.Status(at)
					if slices.Contains(statuses, s) || (statuses == nil && s != apitoken.StatusRevoked) {
						want++
					}
				}
				page, err := st.Tokens.List(ctx, apitoken.TokenFilter{UserID: owner, Statuses: statuses, Now: at, Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != want {
					t.Fatalf("user %q, statuses %v, at %v: total %d, want %d", owner, statuses, at, page.Total, want)
				}
			}
		}
	}
}

// TestCountsFollowEveryChange makes random changes to tokens (creations
// one by one and in bulk, revocations, disabling and enabling, earlier
// expirations) with count folds of a few changes at a time between them,
// and checks every total against the tokens after each round.
func TestCountsFollowEveryChange(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		store.SetCountFoldBatch(f.st, 7)
		rng := rand.New(rand.NewPCG(1, 2))
		now := ms(base.Add(48 * time.Hour))
		// Expirations on earlier days, today, at the instants checked and
		// on later days.
		expirations := []time.Duration{-49 * time.Hour, -time.Hour, 0, time.Millisecond, time.Hour, 30 * time.Hour, 75 * time.Hour}
		instants := []time.Time{now, now.Add(time.Millisecond), now.Add(2 * time.Hour), now.Add(-26 * time.Hour), now.Add(50 * time.Hour)}
		var ids []string
		owners := map[string]string{}
		for round := range 6 {
			for range 12 {
				users := []string{f.user.ID, f.other.ID}
				switch op := rng.IntN(6); {
				case op < 2 || len(ids) == 0:
					tok := newToken(users[rng.IntN(2)], f.key.ID, base.Add(time.Duration(len(ids))*time.Second))
					tok.Expiration = now.Add(expirations[rng.IntN(len(expirations))])
					tok.Enabled = rng.IntN(3) > 0
					MustCreateToken(t, f.st, tok)
					ids, owners[tok.ID] = append(ids, tok.ID), tok.UserID
				case op == 2:
					var bulk []apitoken.Token
					for range 5 {
						tok := newToken(users[rng.IntN(2)], f.key.ID, base.Add(time.Duration(len(ids))*time.Second))
						tok.Expiration = now.Add(expirations[rng.IntN(len(expirations))])
						tok.ClaimExpiration = tok.Expiration
						if rng.IntN(3) == 0 {
							at := base
							tok.RevokedAt = &at
						}
						bulk = append(bulk, tok)
						ids, owners[tok.ID] = append(ids, tok.ID), tok.UserID
					}
					if err := f.st.Tokens.BulkCreate(ctx, bulk); err != nil {
						t.Fatal(err)
					}
				default:
					id := ids[rng.IntN(len(ids))]
					_, err := f.st.Tokens.Update(ctx, owners[id], id, func(tok *apitoken.Token) error {
						switch op {
						case 3:
							at := now
							tok.RevokedAt = &at
						case 4:
							tok.Enabled = !tok.Enabled
						default:
							tok.Expiration = tok.Expiration.Add(-time.Duration(rng.IntN(48)) * time.Hour)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if round%2 == 1 {
				if _, err := f.st.Tokens.FoldCounts(ctx); err != nil {
					t.Fatal(err)
				}
			}
			checkTotals(t, f.st, f.user.ID, instants)
		}
		// One fold, in batches of 7, folds every change left; the totals
		// stay right.
		if _, err := f.st.Tokens.FoldCounts(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := f.st.Tokens.FoldCounts(ctx); n != 0 || err != nil {
			t.Fatalf("a second fold folded %d, %v; want nothing left", n, err)
		}
		checkTotals(t, f.st, f.user.ID, instants)
	})
}

// TestMigrationCountsTokensAlreadyStored stores tokens in a database of
// the schema before counts, then migrates it: the totals are right at
// once.
func TestMigrationCountsTokensAlreadyStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dbtest.NewEmptyURL(t, dialect))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := store.MigrateUpTo(ctx, st, 4); err != nil {
			t.Fatal(err)
		}
		user, key := newUser(base), newKey(t, base)
		if err := store.InsertUserRow(ctx, st, &user); err != nil {
			t.Fatal(err)
		}
		if err := store.InsertKeyRow(ctx, st, &key); err != nil {
			t.Fatal(err)
		}
		now := ms(base.Add(48 * time.Hour))
		for i, exp := range []time.Duration{-49 * time.Hour, -time.Hour, 0, time.Hour, 30 * time.Hour} {
			for _, revoked := range []bool{false, true} {
				for _, enabled := range []bool{false, true} {
					tok := newToken(user.ID, key.ID, base.Add(time.Duration(i)*time.Second))
					tok.Description = fmt.Sprint(exp, revoked, enabled)
					tok.Expiration, tok.ClaimExpiration, tok.Enabled = now.Add(exp), now.Add(exp), enabled
					if revoked {
						tok.RevokedAt = &base
					}
					if err := store.InsertTokenRow(ctx, st, &tok); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		checkTotals(t, st, user.ID, []time.Time{now, now.Add(-26 * time.Hour), now.Add(2 * time.Hour), now.Add(50 * time.Hour)})
	})
}

// TestConcurrentFoldsAndCreations folds counts from two stores on one
// PostgreSQL database while tokens are being created: no fold fails, and
// every token is counted once.
func TestConcurrentFoldsAndCreations(t *testing.T) {
	if os.Getenv(dbtest.EnvURL) == "" {
		t.Skip(dbtest.EnvURL + " is not set: concurrent folds need PostgreSQL (CI sets it)")
	}
	ctx := context.Background()
	url := dbtest.NewURL(t, store.Postgres)
	var stores []*store.Store
	for range 2 {
		st, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		store.SetCountFoldBatch(st, 3)
		stores = append(stores, st)
	}
	user := MustCreateUser(t, stores[0], newUser(base))
	key := MustCreateKey(t, stores[0], base)
	const creators, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, creators+len(stores))
	done := make(chan struct{})
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				tok := newToken(user.ID, key.ID, base.Add(time.Duration(i*each+j)*time.Millisecond))
				tok.ClaimExpiration = tok.Expiration
				if err := stores[i%2].Tokens.Create(ctx, &tok); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var folders sync.WaitGroup
	for _, st := range stores {
		folders.Add(1)
		go func() {
			defer folders.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := st.Tokens.FoldCounts(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	folders.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkTotals(t, stores[1], user.ID, []time.Time{base})
	if _, err := stores[0].Tokens.FoldCounts(ctx); err != nil {
		t.Fatal(err)
	}
	checkTotals(t, stores[1], user.ID, []time.Time{base})
	if page, err := stores[1].Tokens.List(ctx, apitoken.TokenFilter{UserID: user.ID, Now: base, Limit: 1}); err != nil || page.Total != creators*each {
		t.Fatalf("total %d, %v; want %d", page.Total, err, creators*each)
	}
}

// TestCreateBelowCountsLiveTokensAsCountLive checks that CreateBelow
// creates a token exactly when the user's live tokens, by CountLive, are
// fewer than its bound: tokens revoked, expired on an earlier day or
// earlier today, and another user's, do not count.
func TestCreateBelowCountsLiveTokensAsCountLive(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		now := ms(base.Add(48 * time.Hour))
		for i, exp := range []time.Duration{-30 * time.Hour, -time.Minute, 0, time.Minute, 30 * time.Hour} {
			for _, revoked := range []bool{false, true} {
				tok := newToken(f.user.ID, f.key.ID, base.Add(time.Duration(i)*time.Second))
				tok.Expiration, tok.Enabled = now.Add(exp), i%2 == 0
				if revoked {
					tok.RevokedAt = &base
				}
				MustCreateToken(t, f.st, tok)
			}
		}
		MustCreateToken(t, f.st, newToken(f.other.ID, f.key.ID, now))
		live, err := f.st.Tokens.CountLive(ctx, f.user.ID, now, false)
		if err != nil || live != 2 {
			t.Fatalf("CountLive = %d, %v; want 2 (expiring in a minute and in 30 hours)", live, err)
		}
		next := newToken(f.user.ID, f.key.ID, now)
		next.ClaimExpiration = next.Expiration
		if created, err := f.st.Tokens.CreateBelow(ctx, &next, now, live); err != nil || created {
			t.Fatalf("CreateBelow(%d) with %d live = %v, %v; want not created", live, live, created, err)
		}
		if _, err := f.st.Tokens.Get(ctx, f.user.ID, next.ID); err == nil {
			t.Fatal("CreateBelow stored a token it reported not created")
		}
		if created, err := f.st.Tokens.CreateBelow(ctx, &next, now, live+1); err != nil || !created {
			t.Fatalf("CreateBelow(%d) with %d live = %v, %v; want created", live+1, live, created, err)
		}
		if got, err := f.st.Tokens.Get(ctx, f.user.ID, next.ID); err != nil || !got.Expiration.Equal(ms(next.Expiration)) {
			t.Fatalf("the token CreateBelow made reads back as %+v, %v", got, err)
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{now})
	})
}
