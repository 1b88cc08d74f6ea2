package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// queueCreations starts a CreateBelow of each token at once, for the
// user at now below the bound, and returns their outcomes in the tokens'
// order once all have returned. On PostgreSQL the creations are held
// until all are queued, so that they are written as one batch, and batches
// receives the size of every batch written.
func queueCreations(t *testing.T, st *store.Store, ctxs []context.Context, toks []apitoken.Token, now time.Time, below int64) (created []bool, errs []error, batches []int) {
	t.Helper()
	var mu sync.Mutex
	var queued sync.WaitGroup
	queued.Add(len(toks))
	release := store.HoldCreateBatches(st, queued.Done, func(n int) {
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	})
	created, errs = make([]bool, len(toks)), make([]error, len(toks))
	var done sync.WaitGroup
	for i := range toks {
		done.Add(1)
		go func() {
			defer done.Done()
			created[i], errs[i] = st.Tokens.CreateBelow(ctxs[i], &toks[i], now, below)
		}()
	}
	if st.Dialect() == store.Postgres {
		queued.Wait()
	}
	release()
	done.Wait()
	return created, errs, batches
}

// backgrounds returns n background contexts.
func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}

// TestACreationThatFailsInABatchFailsAlone queues ten creations, one of
// which reuses the id of a stored token: it fails, and the nine others are
// stored, each once, with their counts.
func TestACreationThatFailsInABatchFailsAlone(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		now := ms(base.Add(time.Hour))
		stored := MustCreateToken(t, f.st, f.token(base))
		toks := make([]apitoken.Token, 10)
		for i := range toks {
			toks[i] = f.token(now)
			toks[i].ClaimExpiration = toks[i].Expiration
		}
		bad := 4
		toks[bad].ID = stored.ID
		created, errs, batches := queueCreations(t, f.st, backgrounds(len(toks)), toks, now, 1000)
		if dialect == store.Postgres && !slices.Equal(batches, []int{len(toks)}) {
			t.Errorf("batches of %v, want one of %d", batches, len(toks))
		}
		for i := range toks {
			if i == bad {
				if errs[i] == nil || created[i] {
					t.Errorf("the creation with a stored token's id: %v, %v; want an error", created[i], errs[i])
				}
				continue
			}
			if errs[i] != nil || !created[i] {
				t.Errorf("creation %d: %v, %v; want created", i, created[i], errs[i])
				continue
			}
			if got, err := f.st.Tokens.Get(context.Background(), f.user.ID, toks[i].ID); err != nil || got.Description != toks[i].Description {
				t.Errorf("creation %d reads back as %+v, %v", i, got, err)
			}
		}
		if got, err := f.st.Tokens.Get(context.Background(), f.user.ID, stored.ID); err != nil || !got.CreatedAt.Equal(ms(base)) {
			t.Errorf("the stored token became %+v, %v", got, err)
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{now})
		if live, err := f.st.Tokens.CountLive(context.Background(), f.user.ID, now, false); err != nil || live != int64(len(toks)) {
			t.Errorf("live tokens %d, %v; want %d", live, err, len(toks))
		}
	})
}

// TestABatchCountsEachCreationAgainstThoseBeforeIt queues ten creations
// for a user holding two live tokens (and one revoked), below a bound of
// five: exactly three are stored, and the others report that they were
// not, without an error.
func TestABatchCountsEachCreationAgainstThoseBeforeIt(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		now := ms(base.Add(time.Hour))
		MustCreateToken(t, f.st, f.token(base))
		MustCreateToken(t, f.st, f.token(base))
		revoked := f.token(base)
		revoked.RevokedAt = &base
		MustCreateToken(t, f.st, revoked)
		// Another user's creations in the same batch count for that user.
		toks := make([]apitoken.Token, 10)
		for i := range toks {
			toks[i] = f.token(now)
			if i%5 == 0 {
				toks[i] = newToken(f.other.ID, f.key.ID, now)
			}
			toks[i].ClaimExpiration = toks[i].Expiration
		}
		created, errs, _ := queueCreations(t, f.st, backgrounds(len(toks)), toks, now, 5)
		n := map[string]int{}
		for i := range toks {
			if errs[i] != nil {
				t.Fatalf("creation %d: %v", i, errs[i])
			}
			_, err := f.st.Tokens.Get(context.Background(), toks[i].UserID, toks[i].ID)
			if stored := err == nil; stored != created[i] {
				t.Errorf("creation %d reported created %v, stored %v", i, created[i], stored)
			}
			if created[i] {
				n[toks[i].UserID]++
			}
		}
		if n[f.user.ID] != 3 || n[f.other.ID] != 2 {
			t.Errorf("created %d for the user and %d for the other, want 3 and 2", n[f.user.ID], n[f.other.ID])
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{now})
	})
}

// TestACreationLeftWhileQueuedIsNotStored cancels a creation while it
// waits for its batch: it fails, nothing of it is stored, and the creation
// queued with it is stored.
func TestACreationLeftWhileQueuedIsNotStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		now := ms(base.Add(time.Hour))
		toks := []apitoken.Token{f.token(now), f.token(now)}
		for i := range toks {
			toks[i].ClaimExpiration = toks[i].Expiration
		}
		queued := make(chan struct{}, len(toks))
		release := store.HoldCreateBatches(f.st, func() { queued <- struct{}{} }, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if dialect == store.SQLite {
			cancel() // SQLite queues nothing: the creation is given up before it starts
		}
		left := make(chan error)
		go func() {
			_, err := f.st.Tokens.CreateBelow(ctx, &toks[0], now, 1000)
			left <- err
		}()
		if dialect == store.Postgres {
			<-queued
			cancel()
		}
		if err := <-left; apitoken.ErrorCode(err) != apitoken.Unavailable {
			t.Errorf("the creation left while queued: %v, want unavailable", err)
		}
		release()
		if ok, err := f.st.Tokens.CreateBelow(context.Background(), &toks[1], now, 1000); err != nil || !ok {
			t.Fatalf("the creation after it: %v, %v", ok, err)
		}
		if _, err := f.st.Tokens.Get(context.Background(), f.user.ID, toks[0].ID); apitoken.ErrorCode(err) != apitoken.NotFound {
			t.Errorf("the canceled creation reads back: %v", err)
		}
		if _, err := f.st.Tokens.Get(context.Background(), f.user.ID, toks[1].ID); err != nil {
			t.Errorf("the other creation: %v", err)
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{now})
	})
}

// TestABatchIsOneRoundTripUnlessTheHeadMoved writes batches of creations
// on PostgreSQL around events appended by another transaction: the first
// batch, which does not know the audit chain's head, takes two round
// trips; the next one; the one after the other append is refused in one
// and takes two, and so does the next (the writer backs off for one
// batch); then batches take one again. Every token is stored with its
// event, and the chain verifies.
func TestABatchIsOneRoundTripUnlessTheHeadMoved(t *testing.T) {
	f, before, trips := writerFixture(t)
	now := ms(base.Add(time.Hour))
	var all []apitoken.Token
	batch := func() {
		t.Helper()
		toks := make([]apitoken.Token, 3)
		for i := range toks {
			toks[i] = f.token(now)
			toks[i].ClaimExpiration = toks[i].Expiration
		}
		created, errs, _ := queueCreations(t, f.st, backgrounds(len(toks)), toks, now, 1000)
		for i := range toks {
			if errs[i] != nil || !created[i] {
				t.Fatalf("creation %d: %v, %v", i, created[i], errs[i])
			}
		}
		all = append(all, toks...)
	}
	batch()
	batch()
	if err := f.st.AppendEvents(context.Background(), audit.Event{Action: audit.UserUpdated, TargetType: "user", TargetID: f.user.ID}); err != nil {
		t.Fatal(err)
	}
	batch()
	batch()
	batch()
	if want := []bool{false, true, false, false, true}; !slices.Equal(*trips, want) {
		t.Errorf("batches written in one round trip: %v, want %v", *trips, want)
	}
	checkTokenEvents(t, f.st, all, before+int64(len(all))+1)
}

// TestABatchThatDoesNotFitIsWrittenInTwoRoundTrips has the writer know the
// head, then queues a batch of which only some creations fit under the
// bound (three of six): the one round trip fails and changes nothing, and
// the two store the creations that fit, each with its event, and no
// others.
func TestABatchThatDoesNotFitIsWrittenInTwoRoundTrips(t *testing.T) {
	f, before, trips := writerFixture(t)
	now := ms(base.Add(time.Hour))
	first := f.token(now)
	first.ClaimExpiration = first.Expiration
	if _, errs, _ := queueCreations(t, f.st, backgrounds(1), []apitoken.Token{first}, now, 1000); errs[0] != nil {
		t.Fatal(errs[0])
	}
	toks := make([]apitoken.Token, 6)
	for i := range toks {
		toks[i] = f.token(now)
		toks[i].ClaimExpiration = toks[i].Expiration
	}
	created, errs, _ := queueCreations(t, f.st, backgrounds(len(toks)), toks, now, 4)
	stored := []apitoken.Token{first}
	for i := range toks {
		if errs[i] != nil {
			t.Errorf("creation %d: %v", i, errs[i])
		}
		if created[i] {
			stored = append(stored, toks[i])
		} else if _, err := f.st.Tokens.Get(context.Background(), f.user.ID, toks[i].ID); apitoken.ErrorCode(err) != apitoken.NotFound {
			t.Errorf("creation %d, not created, reads back: %v", i, err)
		}
	}
	if len(stored) != 4 {
		t.Errorf("%d tokens stored below a bound of 4", len(stored))
	}
	if want := []bool{false, false}; !slices.Equal(*trips, want) {
		t.Errorf("batches written in one round trip: %v, want %v", *trips, want)
	}
	checkTokenEvents(t, f.st, stored, before+int64(len(stored)))
	checkTotals(t, f.st, f.user.ID, []time.Time{now})
}

// writerFixture returns a fixture on PostgreSQL, how many events its
// audit chain holds, and, as batches are written, whether each took one
// round trip.
func writerFixture(t *testing.T) (f fixture, events int64, trips *[]bool) {
	t.Helper()
	if !slices.Contains(dbtest.Dialects(), store.Postgres) {
		t.Skip("batches of creations are PostgreSQL's; set " + dbtest.EnvURL)
	}
	f = newFixture(t, store.Postgres)
	trips = new([]bool)
	store.OnCreateBatchWritten(f.st, func(oneTrip bool) { *trips = append(*trips, oneTrip) })
	return f, chainLength(t, f.st), trips
}

// chainLength returns how many events the audit chain holds, once it
// verified.
func chainLength(t *testing.T, st *store.Store) int64 {
	t.Helper()
	rep, err := st.VerifyChain(context.Background())
	if err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	return rep.Events
}

// checkTokenEvents checks that the audit chain verifies and holds events
// events, and a creation event of each token.
func checkTokenEvents(t *testing.T, st *store.Store, toks []apitoken.Token, events int64) {
	t.Helper()
	ctx := context.Background()
	rep, err := st.VerifyChain(ctx)
	if err != nil || rep.Events != events {
		t.Fatalf("VerifyChain = %+v, %v; want %d events", rep, err, events)
	}
	for _, tok := range toks {
		page, err := st.ListEvents(ctx, audit.Filter{TargetID: tok.ID, Actions: []audit.Action{audit.TokenCreated}, Limit: 10})
		if err != nil || len(page.Events) != 1 {
			t.Errorf("token %s: events %+v, %v; want its creation", tok.ID, page.Events, err)
		}
	}
}

// TestTwoReplicasBatchIntoOneChain has two stores on one PostgreSQL
// database, as two replicas, create tokens from four goroutines each at
// once: each replica's writer finds the head moved by the other's batches
// and writes those batches in two round trips. Every token is stored once
// with its event, every creation is counted, and the chain verifies.
func TestTwoReplicasBatchIntoOneChain(t *testing.T) {
	if !slices.Contains(dbtest.Dialects(), store.Postgres) {
		t.Skip("batches of creations are PostgreSQL's; set " + dbtest.EnvURL)
	}
	url := dbtest.NewURL(t, store.Postgres)
	a := dbtest.MustOpenURL(t, url)
	f := fixture{st: a, user: MustCreateUser(t, a, newUser(base)), key: MustCreateKey(t, a, base)}
	replicas := []*store.Store{a, dbtest.MustOpenURL(t, url)}
	before := chainLength(t, a)
	var mu sync.Mutex
	trips := map[bool]int{}
	for _, st := range replicas {
		store.OnCreateBatchWritten(st, func(oneTrip bool) { mu.Lock(); trips[oneTrip]++; mu.Unlock() })
	}
	now := ms(base.Add(time.Hour))
	const each = 40
	toks := make([]apitoken.Token, 2*4*each)
	for i := range toks {
		toks[i] = f.token(now)
		toks[i].ClaimExpiration = toks[i].Expiration
	}
	var wg sync.WaitGroup
	for g := range 8 {
		st := replicas[g%2]
		wg.Go(func() {
			for i := g * each; i < (g+1)*each; i++ {
				if ok, err := st.Tokens.CreateBelow(context.Background(), &toks[i], now, 1_000_000); err != nil || !ok {
					t.Errorf("creation %d: %v, %v", i, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("batches written in one round trip: %d, in two: %d", trips[true], trips[false])
	checkTokenEvents(t, a, toks, before+int64(len(toks)))
	checkTotals(t, a, f.user.ID, []time.Time{now})
}
