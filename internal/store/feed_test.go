package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/store"
)

func TestTokensChangedTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		now := base.Add(10 * time.Hour)
		create := func(updated time.Duration, exp time.Duration, change func(*apitoken.Token)) apitoken.Token {
			tok := f.token(base)
			tok.UpdatedAt, tok.Expiration = base.Add(updated), now.Add(exp)
			if change != nil {
				change(&tok)
			}
			return MustCreateToken(t, f.st, tok)
		}
		revokedAt := base.Add(time.Hour)
		create(0, time.Hour, nil) // never changed: verifiers read its state from the token
		disabled := create(time.Hour, time.Hour, func(t *apitoken.Token) { t.Enabled = false })
		revoked := create(2*time.Hour, time.Hour, func(t *apitoken.Token) { t.RevokedAt = &revokedAt })
		shortened := create(3*time.Hour, time.Minute, nil)
		create(4*time.Hour, -time.Minute, func(t *apitoken.Token) { t.Enabled = false }) // expired anyway

		ids := func(states []store.TokenState) []string {
			var s []string
			for _, st := range states {
				s = append(s, st.ID)
			}
			return s
		}
		t.Run("a snapshot holds every changed token not yet expired, in feed order", func(t *testing.T) {
			got, err := f.st.Tokens.ChangedTokens(ctx, time.Time{}, store.Position{}, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{disabled.ID, revoked.ID, shortened.ID}; !slices.Equal(ids(got), want) {
				t.Fatalf("ChangedTokens = %q, want %q", ids(got), want)
			}
			d, r, s := got[0], got[1], got[2]
			if d.Enabled || d.Revoked || !r.Revoked || !s.Enabled || !s.Expiration.Equal(ms(now.Add(time.Minute))) ||
				d.UserID != f.user.ID || !d.UpdatedAt.Equal(ms(base.Add(time.Hour))) {
				t.Fatalf("states = %+v", got)
			}
		})
		t.Run("changes since a time leave out older ones", func(t *testing.T) {
			got, err := f.st.Tokens.ChangedTokens(ctx, base.Add(2*time.Hour), store.Position{}, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{revoked.ID, shortened.ID}; !slices.Equal(ids(got), want) {
				t.Fatalf("ChangedTokens since +2h = %q, want %q", ids(got), want)
			}
		})
		t.Run("pages continue after the position", func(t *testing.T) {
			var all []string
			var after store.Position
			for range 5 {
				page, err := f.st.Tokens.ChangedTokens(ctx, time.Time{}, after, now, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page[0].ID)
				after = store.Position{At: page[0].UpdatedAt, ID: page[0].ID}
			}
			if want := []string{disabled.ID, revoked.ID, shortened.ID}; !slices.Equal(all, want) {
				t.Fatalf("paged feed = %q, want %q", all, want)
			}
		})
	})
}

func TestUsersChangedUsers(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		active := newUser(base)
		active.UpdatedAt = base.Add(time.Hour)
		MustCreateUser(t, st, active)
		disabled := newUser(base)
		disabled.Disabled, disabled.UpdatedAt = true, base.Add(2*time.Hour)
		MustCreateUser(t, st, disabled)

		snapshot, err := st.Users.ChangedUsers(ctx, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(snapshot) != 1 || snapshot[0].ID != disabled.ID || !snapshot[0].Disabled {
			t.Fatalf("snapshot = %+v, want only the disabled user", snapshot)
		}
		since, err := st.Users.ChangedUsers(ctx, base.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(since) != 2 || since[0].ID != active.ID || since[0].Disabled || since[1].ID != disabled.ID {
			t.Fatalf("changes since +1h = %+v, want both users, re-enabled ones included, in feed order", since)
		}
	})
}
