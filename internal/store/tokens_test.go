package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
)

// fixture is a database with a user, another user and a signing key.
type fixture struct {
	st          *store.Store
	user, other apitoken.User
	key         keys.Record
}

func newFixture(t *testing.T, dialect string) fixture {
	t.Helper()
	st := MustOpenDB(t, dialect)
	return fixture{
		st:    st,
		user:  MustCreateUser(t, st, newUser(base)),
		other: MustCreateUser(t, st, newUser(base)),
		key:   MustCreateKey(t, st, base),
	}
}

func (f fixture) token(created time.Time) apitoken.Token {
	return newToken(f.user.ID, f.key.ID, created)
}

func tokenIDs(ts []apitoken.Token) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

// normalized returns the token as the store gives it back: times in UTC to
// the millisecond, and its expiration as its exp claim when it has none.
func normalized(t apitoken.Token) apitoken.Token {
	if t.ClaimExpiration.IsZero() {
		t.ClaimExpiration = t.Expiration
	}
	t.Expiration, t.ClaimExpiration, t.CreatedAt, t.UpdatedAt = ms(t.Expiration), ms(t.ClaimExpiration), ms(t.CreatedAt), ms(t.UpdatedAt)
	for _, p := range []**time.Time{&t.RevokedAt, &t.LastUsedAt} {
		if *p != nil {
			v := ms(**p)
			*p = &v
		}
	}
	return t
}

func TestTokensCreateAndGet(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		revoked, used := base.Add(2*time.Hour), base.Add(time.Hour)
		full := f.token(base)
		full.Description = "Production token – ünïcode"
		full.Scope = "customers accounts"
		full.SourceIP = "192.168.1.1,10.0.0.0/8"
		full.Resources = []apitoken.Resource{{Type: "account", IDs: []string{"1", "2"}}, {Type: "card", IDs: []string{"x"}}}
		full.Enabled = false
		full.RevokedAt, full.LastUsedAt, full.LastUsedIP = &revoked, &used, "2001:db8::1"
		full.Hash = []byte{0, 1, 2, 0xff}
		full.UpdatedAt = base.Add(3 * time.Hour)
		bare := f.token(base.Add(time.Second))

		for name, tok := range map[string]apitoken.Token{"a token with every attribute": full, "a token with only the required ones": bare} {
			t.Run(name+" reads back as written", func(t *testing.T) {
				MustCreateToken(t, f.st, tok)
				for _, userID := range []string{f.user.ID, ""} {
					got, err := f.st.Tokens.Get(ctx, userID, tok.ID)
					if err != nil {
						t.Fatalf("Get(%q, id): %v", userID, err)
					}
					if want := normalized(tok); !reflect.DeepEqual(got, want) {
						t.Fatalf("Get(%q, id) =\n%#v\nwant\n%#v", userID, got, want)
					}
				}
			})
		}
		t.Run("another user's token is not found", func(t *testing.T) {
			_, err := f.st.Tokens.Get(ctx, f.other.ID, full.ID)
			if apitoken.ErrorCode(err) != apitoken.NotFound || !strings.Contains(err.Error(), "API token not found") {
				t.Fatalf("Get(other user, id) = %v, want not found", err)
			}
		})
		t.Run("an unknown token is not found", func(t *testing.T) {
			if _, err := f.st.Tokens.Get(ctx, "", uuid.NewString()); apitoken.ErrorCode(err) != apitoken.NotFound {
				t.Fatalf("Get(unknown) = %v, want not found", err)
			}
		})
		t.Run("a token id is unique", func(t *testing.T) {
			dup := f.token(base)
			dup.ID = full.ID
			if err := f.st.Tokens.Create(ctx, &dup); apitoken.ErrorCode(err) != apitoken.Conflict {
				t.Fatalf("Create with a taken id = %v, want a conflict", err)
			}
		})
	})
}

func TestTokensListFiltersByStatus(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		now := base.Truncate(time.Millisecond).Add(24 * time.Hour)
		revokedAt := now.Add(-30 * time.Minute)
		// One token in every combination of revoked, enabled and expiry.
		var mine []apitoken.Token
		i := 0
		for _, revoked := range []bool{false, true} {
			for _, enabled := range []bool{true, false} {
				for _, exp := range []time.Time{now.Add(-time.Hour), now, now.Add(time.Millisecond), now.Add(time.Hour)} {
					tok := f.token(base.Add(time.Duration(i) * time.Second))
					tok.Description = fmt.Sprintf("revoked=%v enabled=%v exp=now%+v", revoked, enabled, exp.Sub(now))
					tok.Enabled, tok.Expiration = enabled, exp
					if revoked {
						tok.RevokedAt = &revokedAt
					}
					mine = append(mine, MustCreateToken(t, f.st, tok))
					i++
				}
			}
		}
		// Another user's token, active, created in the middle.
		theirs := newToken(f.other.ID, f.key.ID, base.Add(3500*time.Millisecond))
		theirs.Expiration = now.Add(time.Hour)
		MustCreateToken(t, f.st, theirs)
		all := slices.Clone(mine)
		all = slices.Insert(all, 4, theirs)

		// Every combination of statuses, at instants that move tokens
		// between them; Token.Status is the oracle.
		for _, at := range []time.Time{now, now.Add(500 * time.Microsecond), now.Add(time.Millisecond), now.Add(2 * time.Hour)} {
			for mask := 0; mask < 1<<len(apitoken.Statuses); mask++ {
				var statuses []apitoken.Status
				for b, s := range apitoken.Statuses {
					if mask&(1<<b) != 0 {
						statuses = append(statuses, s)
					}
				}
				selected := func(tok apitoken.Token) bool {
					st := tok.Status(at)
					if statuses == nil {
						return st != apitoken.StatusRevoked
					}
					return slices.Contains(statuses, st)
				}
				for _, userID := range []string{f.user.ID, ""} {
					source := mine
					if userID == "" {
						source = all
					}
					var want []string
					for _, tok := range source {
						if selected(tok) {
							want = append(want, tok.ID)
						}
					}
					page, err := f.st.Tokens.List(context.Background(), apitoken.TokenFilter{
						UserID: userID, Statuses: statuses, Now: at, Limit: 100,
					})
					if err != nil {
						t.Fatalf("List: %v", err)
					}
					got, total := page.Tokens, page.Total
					if ids := tokenIDs(got); !slices.Equal(ids, want) || total != int64(len(want)) {
						t.Errorf("at now%+v, statuses %v, user %q: got %d tokens (total %d), want %d:\n got %s\nwant %s",
							at.Sub(now), statuses, userID, len(ids), total, len(want), describe(got), describeIDs(all, want))
					}
				}
			}
		}
	})
}

func describe(ts []apitoken.Token) string {
	var d []string
	for _, t := range ts {
		d = append(d, t.Description)
	}
	return strings.Join(d, "; ")
}

func describeIDs(all []apitoken.Token, ids []string) string {
	var d []string
	for _, t := range all {
		if slices.Contains(ids, t.ID) {
			d = append(d, t.Description)
		}
	}
	return strings.Join(d, "; ")
}

func TestTokensListOrderAndPages(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		// Five tokens, two of them created at the same instant: ordered
		// by creation, then id.
		created := []time.Time{base.Add(2 * time.Second), base, base.Add(time.Second), base.Add(time.Second), base.Add(3 * time.Second)}
		var toks []apitoken.Token
		for _, c := range created {
			toks = append(toks, MustCreateToken(t, f.st, f.token(c)))
		}
		slices.SortFunc(toks, func(a, b apitoken.Token) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		oldest := tokenIDs(toks)
		newest := slices.Clone(oldest)
		slices.Reverse(newest)

		tests := []struct {
			name          string
			newest        bool
			limit, offset int
			want          []string
		}{
			{"all, oldest first", false, 100, 0, oldest},
			{"all, newest first", true, 100, 0, newest},
			{"the first page", false, 2, 0, oldest[:2]},
			{"the second page", false, 2, 2, oldest[2:4]},
			{"the last page", false, 2, 4, oldest[4:]},
			{"the second page, newest first", true, 2, 2, newest[2:4]},
			{"a page past the end", false, 2, 5, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := f.st.Tokens.List(context.Background(), apitoken.TokenFilter{
					UserID: f.user.ID, Now: base, Newest: tt.newest, Limit: tt.limit, Offset: tt.offset,
				})
				if err != nil {
					t.Fatal(err)
				}
				got, total := page.Tokens, page.Total
				if ids := tokenIDs(got); !slices.Equal(ids, tt.want) || total != 5 {
					t.Fatalf("List = %q, total %d; want %q, total 5", ids, total, tt.want)
				}
			})
		}
	})
}

func TestTokensUpdate(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		tok := MustCreateToken(t, f.st, f.token(base))

		t.Run("changes are stored", func(t *testing.T) {
			revoked := base.Add(time.Hour)
			updated, err := f.st.Tokens.Update(ctx, f.user.ID, tok.ID, func(t *apitoken.Token) error {
				t.Description, t.Enabled, t.Expiration = "renamed", false, base.Add(2*time.Hour)
				t.RevokedAt, t.UpdatedAt = &revoked, base.Add(time.Hour)
				return nil
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			got, err := f.st.Tokens.Get(ctx, f.user.ID, tok.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := normalized(updated); !reflect.DeepEqual(got, want) {
				t.Fatalf("Get =\n%#v\nUpdate returned\n%#v", got, want)
			}
			if got.Description != "renamed" || got.Enabled || !got.Expiration.Equal(ms(base.Add(2*time.Hour))) ||
				got.RevokedAt == nil || !got.CreatedAt.Equal(ms(base)) || !reflect.DeepEqual(got.Hash, tok.Hash) {
				t.Fatalf("after Update: %+v", got)
			}
		})
		t.Run("an error from the change aborts it", func(t *testing.T) {
			before, _ := f.st.Tokens.Get(ctx, "", tok.ID)
			refusal := apitoken.FieldErrorf("expiration", "no")
			_, err := f.st.Tokens.Update(ctx, f.user.ID, tok.ID, func(t *apitoken.Token) error {
				t.Description = "should not stick"
				return refusal
			})
			if !errors.Is(err, refusal) || apitoken.ErrorCode(err) != apitoken.Invalid {
				t.Fatalf("Update = %v, want the change's own error", err)
			}
			if after, _ := f.st.Tokens.Get(ctx, "", tok.ID); !reflect.DeepEqual(after, before) {
				t.Fatalf("the aborted change was stored: %+v", after)
			}
		})
		t.Run("another user's token is not found, and the change is not called", func(t *testing.T) {
			called := false
			_, err := f.st.Tokens.Update(ctx, f.other.ID, tok.ID, func(*apitoken.Token) error { called = true; return nil })
			if apitoken.ErrorCode(err) != apitoken.NotFound || called {
				t.Fatalf("Update(other user) = %v (change called: %v), want not found", err, called)
			}
		})
		t.Run("concurrent changes of one token are not lost", func(t *testing.T) {
			const writers = 8
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = f.st.Tokens.Update(ctx, f.user.ID, tok.ID, func(t *apitoken.Token) error {
						t.Description += "+"
						return nil
					})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}
			got, _ := f.st.Tokens.Get(ctx, "", tok.ID)
			if want := "renamed" + strings.Repeat("+", writers); got.Description != want {
				t.Fatalf("description = %q, want %q: an update read a stale row", got.Description, want)
			}
		})
	})
}

func TestTokensCredential(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		f.user = func() apitoken.User {
			u, err := f.st.Users.Update(ctx, f.user.ID, func(u *apitoken.User) error {
				u.Scopes, u.Service = []string{"customers"}, true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}()
		tok := f.token(base)
		tok.SourceIP = "10.0.0.0/8"
		MustCreateToken(t, f.st, tok)

		gotTok, gotUser, err := f.st.Tokens.Credential(ctx, tok.ID)
		if err != nil {
			t.Fatalf("Credential: %v", err)
		}
		if want := normalized(tok); !reflect.DeepEqual(gotTok, want) {
			t.Errorf("Credential's token =\n%#v\nwant\n%#v", gotTok, want)
		}
		wantUser, _ := f.st.Users.Get(ctx, f.user.ID)
		if !reflect.DeepEqual(gotUser, wantUser) {
			t.Errorf("Credential's user =\n%#v\nwant\n%#v", gotUser, wantUser)
		}

		// The owner is disabled: the credential shows it at once.
		if _, err := f.st.Users.Update(ctx, f.user.ID, func(u *apitoken.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, gotUser, err = f.st.Tokens.Credential(ctx, tok.ID); err != nil || !gotUser.Disabled {
			t.Fatalf("after disabling: user disabled %v, %v", gotUser.Disabled, err)
		}

		if _, _, err := f.st.Tokens.Credential(ctx, uuid.NewString()); apitoken.ErrorCode(err) != apitoken.NotFound {
			t.Fatalf("Credential(unknown) = %v, want not found", err)
		}
	})
}

func TestTokensRecordUses(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		a := MustCreateToken(t, f.st, f.token(base))
		b := MustCreateToken(t, f.st, f.token(base))
		lastUse := func(id string) (*time.Time, string, time.Time) {
			t.Helper()
			tok, err := f.st.Tokens.Get(ctx, "", id)
			if err != nil {
				t.Fatal(err)
			}
			return tok.LastUsedAt, tok.LastUsedIP, tok.UpdatedAt
		}

		if err := f.st.Tokens.RecordUses(ctx, nil); err != nil {
			t.Fatalf("RecordUses(nothing): %v", err)
		}
		t1 := base.Add(time.Minute)
		err := f.st.Tokens.RecordUses(ctx, usages(map[string]apitoken.Use{
			a.ID:             {At: t1, IP: netip.MustParseAddr("203.0.113.7")},
			b.ID:             {At: t1.Add(time.Second), IP: netip.MustParseAddr("2001:db8::1")},
			uuid.NewString(): {At: t1}, // a token deleted meanwhile
		}))
		if err != nil {
			t.Fatalf("RecordUses: %v", err)
		}
		if at, ip, updated := lastUse(a.ID); at == nil || !at.Equal(ms(t1)) || ip != "203.0.113.7" || !updated.Equal(ms(base)) {
			t.Fatalf("token a: last used %v from %q, updated %v; want %v from 203.0.113.7, updated unchanged", at, ip, updated, ms(t1))
		}
		if at, ip, _ := lastUse(b.ID); at == nil || !at.Equal(ms(t1.Add(time.Second))) || ip != "2001:db8::1" {
			t.Fatalf("token b: last used %v from %q", at, ip)
		}

		// A use reported late, older than the one stored, is ignored.
		if err := f.st.Tokens.RecordUses(ctx, usages(map[string]apitoken.Use{a.ID: {At: t1.Add(-time.Second), IP: netip.MustParseAddr("198.51.100.1")}})); err != nil {
			t.Fatal(err)
		}
		if at, ip, _ := lastUse(a.ID); !at.Equal(ms(t1)) || ip != "203.0.113.7" {
			t.Fatalf("an older use overwrote the latest: %v from %q", at, ip)
		}
		if err := f.st.Tokens.RecordUses(ctx, usages(map[string]apitoken.Use{a.ID: {At: t1.Add(time.Second), IP: netip.MustParseAddr("198.51.100.1")}})); err != nil {
			t.Fatal(err)
		}
		if at, ip, _ := lastUse(a.ID); !at.Equal(ms(t1.Add(time.Second))) || ip != "198.51.100.1" {
			t.Fatalf("a newer use was not recorded: %v from %q", at, ip)
		}
	})
}

func TestTokensRecordUsesKeepsTheLaterOfTwoUsesInOneMillisecond(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		a := MustCreateToken(t, f.st, f.token(base))
		at := base.Add(time.Minute)
		// Two flushes of uses within the same millisecond, the precision
		// stored: the later flush holds the later use, and wins.
		for _, u := range []apitoken.Use{{At: at, IP: netip.MustParseAddr("198.51.100.4")}, {At: at.Add(300 * time.Microsecond), IP: netip.MustParseAddr("127.0.0.1")}} {
			if err := f.st.Tokens.RecordUses(ctx, usages(map[string]apitoken.Use{a.ID: u})); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := f.st.Tokens.Get(ctx, "", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tok.LastUsedIP != "127.0.0.1" {
			t.Fatalf("lastUsedIp = %q, want the later use's 127.0.0.1", tok.LastUsedIP)
		}
	})
}

func TestTokensRecordUsesFromTwoReplicasAtOnceNeverDeadlocks(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewURL(t, dialect)
		a, b := dbtest.MustOpenURL(t, url), dbtest.MustOpenURL(t, url)
		user := MustCreateUser(t, a, newUser(base))
		key := MustCreateKey(t, a, base)
		var ids []string
		for range 50 {
			ids = append(ids, MustCreateToken(t, a, newToken(user.ID, key.ID, base)).ID)
		}
		// Each replica's flusher writes 20 flushes one after the other,
		// as a replica does, at the same time as the other's, each
		// touching every token: row locks taken in different orders
		// would deadlock.
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for r, st := range []*store.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					uses := map[string]apitoken.Use{}
					for j, id := range ids {
						uses[id] = apitoken.Use{At: base.Add(time.Duration((2*i+r)*len(ids)+j) * time.Millisecond), IP: netip.MustParseAddr("192.0.2.1")}
					}
					errs <- st.Tokens.RecordUses(context.Background(), usages(uses))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("RecordUses: %v", err)
			}
		}
		tok, err := a.Tokens.Get(context.Background(), "", ids[0])
		if err != nil || tok.LastUsedAt == nil {
			t.Fatalf("no use recorded: %v", err)
		}
	})
}
