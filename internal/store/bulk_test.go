package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// TestBulkCreate writes more tokens than one chunk holds, some revoked:
// every one is stored as given, and the revoked ones reach the revocation
// feed.
func TestBulkCreate(t *testing.T) {
	old := store.SetBulkChunk(1000)
	t.Cleanup(func() { store.SetBulkChunk(old) })
	eachDialect(t, func(t *testing.T, dialect string) {
		st := dbtest.MustOpenURL(t, dbtest.NewURL(t, dialect))
		ctx := context.Background()
		user := MustCreateUser(t, st, newUser(base))
		key := MustCreateKey(t, st, base)
		const n = 2500 // two and a half chunks of 1,000
		toks := make([]apitoken.Token, n)
		revoked := 0
		for i := range toks {
			toks[i] = newToken(user.ID, key.ID, base.Add(time.Duration(i)*time.Millisecond))
			toks[i].ClaimExpiration = toks[i].Expiration
			if i%10 == 0 {
				at := base.Add(time.Hour)
				toks[i].RevokedAt = &at
				revoked++
			}
		}
		toks[1].Resources = []apitoken.Resource{{Type: "account", IDs: []string{"1"}}}
		if err := st.Tokens.BulkCreate(ctx, toks); err != nil {
			t.Fatal(err)
		}
		page, err := st.Tokens.List(ctx, apitoken.TokenFilter{UserID: user.ID, Statuses: apitoken.Statuses, Now: base, Limit: 1})
		if err != nil || page.Total != n {
			t.Fatalf("%d tokens stored (%v), want %d", page.Total, err, n)
		}
		got, err := st.Tokens.Get(ctx, user.ID, toks[1].ID)
		if err != nil || len(got.Resources) != 1 || got.Description != toks[1].Description || !got.Expiration.Equal(toks[1].Expiration.Truncate(time.Millisecond)) {
			t.Fatalf("a bulk-created token reads back as %+v, %v", got, err)
		}
		states, err := st.Tokens.ChangedTokens(ctx, apitoken.Position{}, base, n)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, s := range states {
			if s.Revoked {
				seen++
			}
		}
		if seen != revoked {
			t.Fatalf("the feed holds %d revoked tokens, want %d", seen, revoked)
		}
	})
}
