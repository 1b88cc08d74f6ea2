package store_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// The retention the purge tests apply, at base: tokens that stopped
// working before stoppedBefore, with an exp claim passed before
// claimBefore, are purged.
var (
	stoppedBefore = base.Add(-400 * 24 * time.Hour)
	claimBefore   = base.Add(-5 * time.Second)
)

// days returns base moved by n days.
func days(n int) time.Time { return base.Add(time.Duration(n) * 24 * time.Hour) }

// pastToken returns a token of the user created long before base, expiring
// at exp (its exp claim too), revoked at revoked unless it is zero.
func pastToken(userID, keyID string, exp, revoked time.Time) apitoken.Token {
	t := newToken(userID, keyID, days(-1000))
	t.Expiration, t.ClaimExpiration = exp, exp
	if !revoked.IsZero() {
		t.RevokedAt, t.UpdatedAt = &revoked, revoked
	}
	return t
}

// remaining returns the ids of the user's tokens left, sorted.
func remaining(tb testing.TB, st *store.Store, userID string) []string {
	tb.Helper()
	page, err := st.Tokens.List(context.Background(), apitoken.TokenFilter{UserID: userID, Statuses: apitoken.Statuses, Now: base, Limit: 100_000})
	if err != nil {
		tb.Fatal(err)
	}
	toks := page.Tokens
	ids := make([]string, len(toks))
	for i, t := range toks {
		ids[i] = t.ID
	}
	slices.Sort(ids)
	return ids
}

// TestPurgeDeletesTokensThatStoppedWorkingBeforeTheRetention stores tokens
// on either side of every condition of the purge and checks which it
// deletes: those revoked or expired, whichever came first, before the
// retention, with an exp claim passed; never a live or disabled token, nor
// a revoked one whose exp claim has not passed.
func TestPurgeDeletesTokensThatStoppedWorkingBeforeTheRetention(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		user := MustCreateUser(t, st, newUser(days(-1000)))
		key := MustCreateKey(t, st, days(-1000))
		var zero time.Time
		tests := []struct {
			name   string
			tok    apitoken.Token
			purged bool
		}{
			{"a token that expired before the retention is purged",
				pastToken(user.ID, key.ID, days(-401), zero), true},
			{"a token that expired a millisecond before the retention is purged",
				pastToken(user.ID, key.ID, stoppedBefore.Add(-time.Millisecond), zero), true},
			{"a token that expired at the retention's start is kept",
				pastToken(user.ID, key.ID, stoppedBefore, zero), false},
			{"a token that expired within the retention is kept",
				pastToken(user.ID, key.ID, days(-399), zero), false},
			{"a token revoked before the retention, expired within it, is purged",
				pastToken(user.ID, key.ID, days(-300), days(-401)), true},
			{"a token revoked within the retention, expired before it, is purged: it stopped working at its expiration",
				pastToken(user.ID, key.ID, days(-450), days(-10)), true},
			{"a token revoked and expired within the retention is kept",
				pastToken(user.ID, key.ID, days(-100), days(-200)), false},
			{"a token revoked before the retention whose exp claim has not passed is kept",
				pastToken(user.ID, key.ID, days(30), days(-401)), false},
			{"a token revoked before the retention whose exp claim passes within the leeway is kept",
				pastToken(user.ID, key.ID, base.Add(-time.Second), days(-401)), false},
			{"a live token created long ago is kept",
				pastToken(user.ID, key.ID, days(1), zero), false},
			{"a disabled token that has not expired is kept",
				func() apitoken.Token { t := pastToken(user.ID, key.ID, days(10), zero); t.Enabled = false; return t }(), false},
			{"a disabled token that expired before the retention is purged",
				func() apitoken.Token { t := pastToken(user.ID, key.ID, days(-401), zero); t.Enabled = false; return t }(), true},
			{"a token shortened to before the retention, its exp claim passed, is purged",
				func() apitoken.Token {
					t := pastToken(user.ID, key.ID, days(-401), zero)
					t.ClaimExpiration = days(-300)
					return t
				}(), true},
			{"a token shortened to before the retention whose exp claim has not passed is kept",
				func() apitoken.Token {
					t := pastToken(user.ID, key.ID, days(-401), zero)
					t.ClaimExpiration = days(1)
					return t
				}(), false},
		}
		var kept []string
		purged := 0
		for _, tt := range tests {
			MustCreateToken(t, st, tt.tok)
			if tt.purged {
				purged++
			} else {
				kept = append(kept, tt.tok.ID)
			}
		}
		slices.Sort(kept)

		n, err := st.Tokens.Purge(ctx, stoppedBefore, claimBefore)
		if err != nil || n != int64(purged) {
			t.Fatalf("Purge = %d, %v; want %d", n, err, purged)
		}
		left := remaining(t, st, user.ID)
		for _, tt := range tests {
			if _, found := slices.BinarySearch(left, tt.tok.ID); found == tt.purged {
				t.Errorf("%s: left is %v", tt.name, found)
			}
		}
		if !slices.Equal(left, kept) {
			t.Fatalf("left %v, want %v", left, kept)
		}
		if n, err := st.Tokens.Purge(ctx, stoppedBefore, claimBefore); n != 0 || err != nil {
			t.Fatalf("a second Purge = %d, %v; want 0", n, err)
		}
		// The counts lose what was purged, folded or not.
		checkTotals(t, st, user.ID, []time.Time{base, days(-400), days(2)})
		if _, err := st.Tokens.FoldCounts(ctx); err != nil {
			t.Fatal(err)
		}
		checkTotals(t, st, user.ID, []time.Time{base, days(-400), days(2)})
	})
}

// TestPurgeDeletesInShortBatches purges more tokens than a batch holds:
// every batch is full but the last, and between batches writers go
// through at once, which on SQLite shows that no batch holds the write
// lock past its own statement.
func TestPurgeDeletesInShortBatches(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		for _, tt := range []struct {
			name    string
			tokens  int
			batches []int64
		}{
			{"a remainder makes a last short batch", 25, []int64{10, 10, 5}},
			{"a multiple of the batch ends with an empty batch", 20, []int64{10, 10, 0}},
			{"fewer than a batch take one", 3, []int64{3}},
			{"none take one empty batch", 0, []int64{0}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st := MustOpenDB(t, dialect)
				ctx := context.Background()
				user := MustCreateUser(t, st, newUser(days(-1000)))
				key := MustCreateKey(t, st, days(-1000))
				old := make([]apitoken.Token, tt.tokens)
				for i := range old {
					old[i] = pastToken(user.ID, key.ID, days(-500), time.Time{})
				}
				if err := st.Tokens.BulkCreate(ctx, old); err != nil {
					t.Fatal(err)
				}
				live := MustCreateToken(t, st, newToken(user.ID, key.ID, base))

				store.SetPurgeBatch(st, 10)
				var batches []int64
				var written []string
				store.OnPurgeBatch(st, func(n int64) {
					batches = append(batches, n)
					written = append(written, write(t, st, user.ID, key.ID, live.ID))
				})
				n, err := st.Tokens.Purge(ctx, stoppedBefore, claimBefore)
				if err != nil || n != int64(tt.tokens) {
					t.Fatalf("Purge = %d, %v; want %d", n, err, tt.tokens)
				}
				if !slices.Equal(batches, tt.batches) {
					t.Fatalf("batches of %v, want %v", batches, tt.batches)
				}
				want := append([]string{live.ID}, written...)
				slices.Sort(want)
				if left := remaining(t, st, user.ID); !slices.Equal(left, want) {
					t.Fatalf("left %v, want the live token and those created between batches, %v", left, want)
				}
			})
		}
	})
}

// write makes the writes of requests, each bounded by a second: a token
// created, another's use recorded and the other disabled. It returns the
// created token's id.
func write(tb testing.TB, st *store.Store, userID, keyID, otherID string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tok := newToken(userID, keyID, base)
	tok.ClaimExpiration = tok.Expiration
	if err := st.Tokens.Create(ctx, &tok); err != nil {
		tb.Fatalf("create a token between purge batches: %v", err)
	}
	if err := st.Tokens.RecordUses(ctx, usages(map[string]apitoken.Use{otherID: {At: base}})); err != nil {
		tb.Fatalf("record a use between purge batches: %v", err)
	}
	_, err := st.Tokens.Update(ctx, userID, otherID, func(t *apitoken.Token) error {
		t.Enabled, t.UpdatedAt = !t.Enabled, base
		return nil
	})
	if err != nil {
		tb.Fatalf("update a token between purge batches: %v", err)
	}
	return tok.ID
}

// TestPurgePausesBetweenBatches checks the pause after each batch: as long
// as the batch took, and on SQLite long enough for every writer waiting in
// SQLite's busy handler, whose sleeps reach 100 ms, to try again.
func TestPurgePausesBetweenBatches(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		for took, want := range map[time.Duration]time.Duration{
			time.Millisecond:       map[string]time.Duration{store.SQLite: 100 * time.Millisecond, store.Postgres: time.Millisecond}[dialect],
			250 * time.Millisecond: 250 * time.Millisecond,
		} {
			if got := store.PurgePause(st, took); got != want {
				t.Errorf("after a batch of %v, a pause of %v, want %v", took, got, want)
			}
		}
	})
}

// TestConcurrentPurgesShareTheWork runs two stores' purges on one database
// at once, as two replicas do, each waiting after its first batch for the
// other's: neither fails, and their counts add up to the tokens purged,
// none counted twice.
func TestConcurrentPurgesShareTheWork(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewURL(t, dialect)
		a, b := dbtest.MustOpenURL(t, url), dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		user := MustCreateUser(t, a, newUser(days(-1000)))
		key := MustCreateKey(t, a, days(-1000))
		const n = 2000
		old := make([]apitoken.Token, n)
		for i := range old {
			revoked := time.Time{}
			if i%2 == 0 {
				revoked = days(-600)
			}
			old[i] = pastToken(user.ID, key.ID, days(-500), revoked)
		}
		if err := a.Tokens.BulkCreate(ctx, old); err != nil {
			t.Fatal(err)
		}
		live := MustCreateToken(t, a, newToken(user.ID, key.ID, base))

		// Each purge's first batch waits for the other's, so that both
		// are under way together.
		first := []chan struct{}{make(chan struct{}), make(chan struct{})}
		for i, st := range []*store.Store{a, b} {
			store.SetPurgeBatch(st, 50)
			// Two SQLite purges with no pause between batches retake
			// the write lock before the other's busy handler wakes, and
			// one can wait past its deadline: the pause is what lets
			// them share the lock in production.
			store.KeepPurgePause(st)
			var once sync.Once
			store.OnPurgeBatch(st, func(int64) {
				once.Do(func() {
					close(first[i])
					select {
					case <-first[1-i]:
					case <-time.After(30 * time.Second):
						t.Errorf("store %d: the other purge did no first batch", i)
					}
				})
			})
		}
		counts := make([]int64, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, st := range []*store.Store{a, b} {
			wg.Go(func() { counts[i], errs[i] = st.Tokens.Purge(ctx, stoppedBefore, claimBefore) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("store %d: Purge: %v", i, err)
			}
			if counts[i] == 0 {
				t.Errorf("store %d purged nothing", i)
			}
		}
		if counts[0]+counts[1] != n {
			t.Fatalf("the purges counted %d and %d, %d in all; want %d", counts[0], counts[1], counts[0]+counts[1], n)
		}
		if left := remaining(t, a, user.ID); !slices.Equal(left, []string{live.ID}) {
			t.Fatalf("%d tokens left, want the live one", len(left))
		}
	})
}

// TestPurgeReadsTheIndex checks that a batch of the purge can be answered
// from the index of migration 0006, on both databases: its query spells
// the index's expression as the index does. PostgreSQL is told to avoid
// sequential scans, as it would for a table this small; a query the index
// cannot answer would still scan the table. (At scale PostgreSQL reads the
// index in order and stops at the batch's size: BENCHMARKS.md.)
func TestPurgeReadsTheIndex(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewURL(t, dialect)
		st := dbtest.MustOpenURL(t, url)
		db := rawDB(t, url)
		args := []any{stoppedBefore, claimBefore, store.DefaultPurgeBatch}
		var plan []string
		if dialect == store.SQLite {
			var rows []struct{ Detail string }
			if err := db.Raw("EXPLAIN QUERY PLAN "+store.PurgeSQL(st), args...).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				plan = append(plan, r.Detail)
			}
		} else {
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
					return err
				}
				var err error
				plan, err = planLines(tx, "EXPLAIN "+store.PurgeSQL(st), args...)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		text := strings.Join(plan, "\n")
		// On SQLite the index gives the order too, with no sort of what
		// the batch matches.
		if !strings.Contains(text, "api_tokens_stopped") || strings.Contains(text, "Seq Scan") ||
			strings.Contains(text, "SCAN api_tokens") || strings.Contains(text, "TEMP B-TREE") {
			t.Fatalf("the purge's plan does not read api_tokens_stopped:\n%s", text)
		}
		t.Logf("the purge's plan:\n%s", text)
	})
}

// TestCursorPagesSurvivePurges pages through a user's tokens by cursor
// while the purge deletes some of them, the token the cursor names
// included: the next page starts right after the cursor's place, and
// every token left is met once, in order.
func TestCursorPagesSurvivePurges(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		user := MustCreateUser(t, st, newUser(days(-1000)))
		key := MustCreateKey(t, st, days(-1000))
		// Twelve tokens a second apart; every third expired long ago.
		var all, kept []string
		for i := range 12 {
			exp := days(10)
			if i%3 == 0 {
				exp = days(-500)
			}
			tok := pastToken(user.ID, key.ID, exp, time.Time{})
			tok.CreatedAt = days(-1000).Add(time.Duration(i) * time.Second)
			MustCreateToken(t, st, tok)
			all = append(all, tok.ID)
			if i%3 != 0 {
				kept = append(kept, tok.ID)
			}
		}
		list := func(after *apitoken.ListPosition) apitoken.TokenPage {
			page, err := st.Tokens.List(ctx, apitoken.TokenFilter{UserID: user.ID, Statuses: apitoken.Statuses, Now: base, Limit: 4, After: after})
			if err != nil {
				t.Fatal(err)
			}
			return page
		}
		first := list(nil)
		if got := tokenIDs(first.Tokens); !slices.Equal(got, all[:4]) || !first.More {
			t.Fatalf("first page %v (more %v), want %v and more", got, first.More, all[:4])
		}
		// The first page's last token is purged with the others expired.
		if n, err := st.Tokens.Purge(ctx, stoppedBefore, claimBefore); err != nil || n != 4 {
			t.Fatalf("Purge = %d, %v; want 4", n, err)
		}
		got := tokenIDs(first.Tokens)
		for pos := apitoken.PositionOf(&first.Tokens[len(first.Tokens)-1]); ; {
			page := list(&pos)
			got = append(got, tokenIDs(page.Tokens)...)
			if !page.More {
				break
			}
			pos = apitoken.PositionOf(&page.Tokens[len(page.Tokens)-1])
		}
		want := append(slices.Clone(all[:4]), kept[2:]...)
		if !slices.Equal(got, want) {
			t.Fatalf("the walk met %v,\nwant %v", got, want)
		}
		if last := list(nil); last.Total != int64(len(kept)) {
			t.Fatalf("total after the purge = %d, want %d", last.Total, len(kept))
		}
	})
}
