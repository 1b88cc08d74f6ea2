package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// usages returns each use as a replica's usage log holds it after that
// one use.
func usages(uses map[string]apitoken.Use) map[string]apitoken.Usage {
	out := make(map[string]apitoken.Usage, len(uses))
	for id, use := range uses {
		var u apitoken.Usage
		u.Add(use)
		out[id] = u
	}
	return out
}

func TestTokensKeepTheLifecycleAttributes(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		leaked := base.Add(time.Hour)
		tok := f.token(base)
		tok.RotatedFrom, tok.RotatedTo, tok.RetirePrevious = uuid.NewString(), uuid.NewString(), true
		tok.LeakedAt, tok.LeakURL, tok.LeakSource = &leaked, "https://github.com/o/r/blob/c/f.txt", "content"
		tok.RecentClients = []apitoken.Client{{IP: "2001:db8::1", UserAgent: "curl/8.5.0", At: base.Add(time.Minute)}}
		MustCreateToken(t, f.st, tok)
		got, err := f.st.Tokens.Get(context.Background(), f.user.ID, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := normalized(tok)
		leakedMS := ms(leaked)
		want.LeakedAt = &leakedMS
		want.RecentClients = []apitoken.Client{{IP: "2001:db8::1", UserAgent: "curl/8.5.0", At: ms(base.Add(time.Minute))}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Get =\n%+v\nwant\n%+v", got, want)
		}
	})
}

func TestTokensRecordUsesKeepsTheLatestUseFromEachOfTheLastFiveAddresses(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		tok := MustCreateToken(t, f.st, f.token(base))
		start := mustSeq(t, f.st)
		at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
		ip := func(n byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, n}) }
		flush := func(uses ...apitoken.Use) {
			t.Helper()
			var u apitoken.Usage
			for _, use := range uses {
				u.Add(use)
			}
			if err := f.st.Tokens.RecordUses(ctx, map[string]apitoken.Usage{tok.ID: u}); err != nil {
				t.Fatal(err)
			}
		}
		// Two flushes: six addresses in all, one of them in both, and a
		// user agent with a control character.
		flush(apitoken.Use{At: at(1), IP: ip(1), UserAgent: "old"}, apitoken.Use{At: at(2), IP: ip(2)},
			apitoken.Use{At: at(3), IP: ip(3), UserAgent: "a\x00b"})
		flush(apitoken.Use{At: at(4), IP: ip(4)}, apitoken.Use{At: at(5), IP: ip(1), UserAgent: "new"},
			apitoken.Use{At: at(6), IP: ip(5)}, apitoken.Use{At: at(7), IP: ip(6)})
		// A flush of a use older than every stored one changes nothing.
		flush(apitoken.Use{At: at(0), IP: ip(7)})
		got, err := f.st.Tokens.Get(ctx, "", tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []apitoken.Client{
			{IP: "192.0.2.6", At: ms(at(7))}, {IP: "192.0.2.5", At: ms(at(6))}, {IP: "192.0.2.1", UserAgent: "new", At: ms(at(5))},
			{IP: "192.0.2.4", At: ms(at(4))}, {IP: "192.0.2.3", UserAgent: "ab", At: ms(at(3))},
		}
		if !reflect.DeepEqual(got.RecentClients, want) {
			t.Fatalf("recent clients =\n%+v\nwant\n%+v", got.RecentClients, want)
		}
		if got.LastUsedIP != "192.0.2.6" || !got.LastUsedAt.Equal(ms(at(7))) {
			t.Fatalf("last use %v from %s, want the latest, %v from 192.0.2.6", got.LastUsedAt, got.LastUsedIP, ms(at(7)))
		}
		if !got.UpdatedAt.Equal(ms(base)) || mustSeq(t, f.st) != start {
			t.Fatal("recording uses changed the token's state: updated_at or the change number moved")
		}
	})
}

func TestTokensRevokeAllRevokesTheUsersLiveTokensInBatches(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		store.SetRevokeAllBatch(f.st, 3)
		ctx := context.Background()
		now := ms(base.Add(time.Hour))
		var want []string
		for i := range 7 {
			tok := f.token(base.Add(time.Duration(i) * time.Millisecond))
			tok.Enabled = i%3 != 0 // disabled tokens are revoked too
			want = append(want, MustCreateToken(t, f.st, tok).ID)
		}
		expired := f.token(base)
		expired.Expiration = now
		revokedAt := base
		revoked := f.token(base)
		revoked.RevokedAt = &revokedAt
		other := newToken(f.other.ID, f.key.ID, base)
		for _, tok := range []apitoken.Token{expired, revoked, other} {
			MustCreateToken(t, f.st, tok)
		}
		start := mustSeq(t, f.st)

		ids, err := f.st.Tokens.RevokeAll(ctx, f.user.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Sort(ids); !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
			t.Fatalf("revoked %v, want the live and disabled tokens %v", ids, want)
		}
		// Three batches of at most 3 tokens, each with a change number;
		// the batch that finds nothing takes none.
		if seq := mustSeq(t, f.st); seq != start+3 {
			t.Fatalf("change numbers %d → %d, want one for each of 3 batches", start, seq)
		}
		page, err := f.st.Tokens.List(ctx, apitoken.TokenFilter{UserID: f.user.ID, Statuses: apitoken.Statuses, Now: now, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range page.Tokens {
			switch {
			case slices.Contains(want, tok.ID) && (tok.RevokedAt == nil || !tok.RevokedAt.Equal(now)):
				t.Fatalf("token %s: revoked at %v, want %v", tok.ID, tok.RevokedAt, now)
			case tok.ID == expired.ID && tok.RevokedAt != nil:
				t.Fatal("an expired token was revoked")
			case tok.ID == revoked.ID && !tok.RevokedAt.Equal(ms(revokedAt)):
				t.Fatal("a revoked token was revoked again")
			}
		}
		states, err := f.st.Tokens.ChangedTokens(ctx, apitoken.Position{Change: start}, now, 100)
		if err != nil || len(states) != len(want) {
			t.Fatalf("the feed lists %d tokens changed, %v; want the %d revoked", len(states), err, len(want))
		}
		if o, err := f.st.Tokens.Get(ctx, "", other.ID); err != nil || o.RevokedAt != nil {
			t.Fatalf("another user's token was revoked: %v", err)
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{now, base})

		again, err := f.st.Tokens.RevokeAll(ctx, f.user.ID, now.Add(time.Second))
		if err != nil || len(again) != 0 || mustSeq(t, f.st) != start+3 {
			t.Fatalf("again: revoked %v, %v, change number %d; want none and no change number", again, err, mustSeq(t, f.st))
		}
	})
}

func TestTokensUpdateEachTakesOneChangeNumberForWhatChanged(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		a := MustCreateToken(t, f.st, f.token(base))
		b := MustCreateToken(t, f.st, newToken(f.other.ID, f.key.ID, base))
		c := MustCreateToken(t, f.st, f.token(base))
		start := mustSeq(t, f.st)
		got, err := f.st.Tokens.UpdateEach(ctx, []string{c.ID, uuid.NewString(), a.ID, b.ID}, func(tok *apitoken.Token) error {
			if tok.ID != c.ID {
				at := base.Add(time.Minute)
				tok.RevokedAt, tok.UpdatedAt = &at, at
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs := slices.Sorted(slices.Values([]string{a.ID, b.ID, c.ID}))
		if ids := tokenIDs(got); !slices.Equal(ids, wantIDs) {
			t.Fatalf("UpdateEach returned %v, want %v in id order, the unknown id left out", ids, wantIDs)
		}
		if seq := mustSeq(t, f.st); seq != start+1 {
			t.Fatalf("change numbers %d → %d, want one", start, seq)
		}
		states, err := f.st.Tokens.ChangedTokens(ctx, apitoken.Position{Change: start}, base, 10)
		if err != nil || len(states) != 2 || states[0].Change != start+1 || states[1].Change != start+1 {
			t.Fatalf("changed tokens %+v, %v; want a and b with change %d", states, err, start+1)
		}
		checkTotals(t, f.st, f.user.ID, []time.Time{base})
	})
}

// inventoryToken describes a token of TestTokensListInventoryFilters.
type inventoryToken struct {
	expires  time.Duration // from base
	lastUsed time.Duration // from base; 0 for never
	leaked   bool
	scope    string
}

func TestTokensListInventoryFilters(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		now := base.Add(time.Minute)
		specs := []inventoryToken{
			{expires: time.Hour, scope: "customers"},
			{expires: 2 * time.Hour, lastUsed: 10 * time.Second, scope: "customers-write customers"},
			{expires: 3 * time.Hour, lastUsed: 50 * time.Second, leaked: true, scope: "customers-write"},
			{expires: 4 * time.Hour, lastUsed: 20 * time.Second, scope: "accounts customers applications"},
			{expires: 5 * time.Hour, leaked: true, scope: "accounts"},
			{expires: 30 * time.Second, scope: "customers"}, // expired at now
		}
		var all []apitoken.Token
		uses := map[string]apitoken.Use{}
		for i, sp := range specs {
			tok := f.token(base.Add(time.Duration(i) * time.Second))
			tok.Expiration, tok.Scope = base.Add(sp.expires), sp.scope
			if sp.leaked {
				at := base
				tok.LeakedAt, tok.RevokedAt = &at, &at
			}
			MustCreateToken(t, f.st, tok)
			if sp.lastUsed > 0 {
				uses[tok.ID] = apitoken.Use{At: base.Add(sp.lastUsed), IP: netip.MustParseAddr("192.0.2.1")}
			}
			MustCreateToken(t, f.st, newToken(f.other.ID, f.key.ID, base)) // another user's, never listed
		}
		if err := f.st.Tokens.RecordUses(ctx, usages(uses)); err != nil {
			t.Fatal(err)
		}
		page, err := f.st.Tokens.List(ctx, apitoken.TokenFilter{UserID: f.user.ID, Statuses: apitoken.Statuses, Now: now, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		all = page.Tokens

		at := func(d time.Duration) *time.Time { v := base.Add(d); return &v }
		yes, no := true, false
		for _, tc := range []struct {
			name     string
			inv      apitoken.Inventory
			statuses []apitoken.Status
		}{
			{"expiring before 3h", apitoken.Inventory{ExpiresBefore: at(3 * time.Hour)}, apitoken.Statuses},
			{"expiring before 3h, listed statuses", apitoken.Inventory{ExpiresBefore: at(3 * time.Hour)}, nil},
			{"unused since 20s, never used included", apitoken.Inventory{LastUsedBefore: at(20 * time.Second)}, apitoken.Statuses},
			{"leaked", apitoken.Inventory{Leaked: &yes}, apitoken.Statuses},
			{"not leaked", apitoken.Inventory{Leaked: &no}, apitoken.Statuses},
			{"holding customers, not customers-write", apitoken.Inventory{Scope: "customers"}, apitoken.Statuses},
			{"holding customers-write", apitoken.Inventory{Scope: "customers-write"}, apitoken.Statuses},
			{"holding applications, in the middle", apitoken.Inventory{Scope: "applications"}, apitoken.Statuses},
			{"every filter at once", apitoken.Inventory{ExpiresBefore: at(4 * time.Hour), LastUsedBefore: at(time.Minute), Leaked: &no, Scope: "customers"}, []apitoken.Status{apitoken.StatusActive}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, tok := range all {
					if matches(tok, tc.inv, tc.statuses, now) {
						want = append(want, tok.ID)
					}
				}
				filter := apitoken.TokenFilter{UserID: f.user.ID, Statuses: tc.statuses, Now: now, Limit: 2, Inventory: tc.inv}
				got := listAll(t, f.st, filter)
				if !slices.Equal(tokenIDs(got.tokens), want) || got.total != int64(len(want)) {
					t.Fatalf("by cursor: %v, total %d; want %v", tokenIDs(got.tokens), got.total, want)
				}
				filter.Offset = 1
				p, err := f.st.Tokens.List(ctx, filter)
				if err != nil {
					t.Fatal(err)
				}
				end := min(len(want), 3)
				if wantPage := want[min(1, len(want)):end]; !slices.Equal(tokenIDs(p.Tokens), wantPage) || p.Total != int64(len(want)) {
					t.Fatalf("at offset 1: %v, total %d; want %v, total %d", tokenIDs(p.Tokens), p.Total, wantPage, len(want))
				}
			})
		}
	})
}

// matches is the oracle of the inventory filters: what they mean, in Go.
func matches(tok apitoken.Token, inv apitoken.Inventory, statuses []apitoken.Status, now time.Time) bool {
	if statuses == nil {
		statuses = apitoken.Listed
	}
	switch {
	case !slices.Contains(statuses, tok.Status(now)):
		return false
	case inv.ExpiresBefore != nil && !tok.Expiration.Before(*inv.ExpiresBefore):
		return false
	case inv.LastUsedBefore != nil && tok.LastUsedAt != nil && !tok.LastUsedAt.Before(*inv.LastUsedBefore):
		return false
	case inv.Leaked != nil && *inv.Leaked != (tok.LeakedAt != nil):
		return false
	case inv.Scope != "" && !slices.Contains(strings.Fields(tok.Scope), inv.Scope):
		return false
	}
	return true
}

// listed is every page of a list, read by cursor.
type listed struct {
	tokens []apitoken.Token
	total  int64
}

// listAll reads every page of the list after the first by cursor, and
// checks that every page reports the same total.
func listAll(t *testing.T, st *store.Store, f apitoken.TokenFilter) listed {
	t.Helper()
	var out listed
	for i := 0; ; i++ {
		page, err := st.Tokens.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && page.Total != out.total {
			t.Fatalf("page %d: total %d, the first page's %d", i, page.Total, out.total)
		}
		out.tokens, out.total = append(out.tokens, page.Tokens...), page.Total
		if !page.More || len(page.Tokens) == 0 {
			return out
		}
		if i > 100 {
			panic(fmt.Sprintf("list of %d pages", i))
		}
		pos := apitoken.PositionOf(&page.Tokens[len(page.Tokens)-1])
		f.After = &pos
	}
}

// TestTokensRevokeAllBesideFlushesOfUsesNeverDeadlocks revokes a user's
// tokens on PostgreSQL while another replica flushes uses of all of them,
// back to back: rows locked in different orders would deadlock. (An
// SQLite transaction holds the database's write lock alone: nothing there
// can deadlock, and back-to-back flushes would only keep the revocation
// from the lock.)
func TestTokensRevokeAllBesideFlushesOfUsesNeverDeadlocks(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		if dialect != store.Postgres {
			t.Skip("only PostgreSQL locks rows")
		}
		url := dbtest.NewURL(t, dialect)
		a, b := dbtest.MustOpenURL(t, url), dbtest.MustOpenURL(t, url)
		user := MustCreateUser(t, a, newUser(base))
		key := MustCreateKey(t, a, base)
		toks := make([]apitoken.Token, 2500)
		for i := range toks {
			toks[i] = newToken(user.ID, key.ID, base)
			// Expirations against the id order, so that the index of live
			// tokens meets the rows in another order than their ids.
			toks[i].Expiration = base.Add(time.Duration(len(toks)-i) * time.Hour)
			toks[i].ClaimExpiration = toks[i].Expiration
		}
		if err := a.Tokens.BulkCreate(context.Background(), toks); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for i := range 10 {
				uses := map[string]apitoken.Use{}
				for _, tok := range toks {
					uses[tok.ID] = apitoken.Use{At: base.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("192.0.2.1")}
				}
				if err := b.Tokens.RecordUses(context.Background(), usages(uses)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		ids, err := a.Tokens.RevokeAll(context.Background(), user.ID, base)
		if err != nil || len(ids) != len(toks) {
			t.Fatalf("RevokeAll = %d, %v; want %d", len(ids), err, len(toks))
		}
		if err := <-done; err != nil {
			t.Fatalf("RecordUses: %v", err)
		}
	})
}
