package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
)

func TestSmoke(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			st := dbtest.MustOpen(t, d)
			ctx := context.Background()
			now := time.Now().UTC()
			u := apitoken.User{ID: "0194e5a0-0000-7000-8000-000000000001", Email: "a@b.c", Role: apitoken.RoleAdmin, CreatedAt: now, UpdatedAt: now}
			if err := st.Users.Create(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if err := st.Users.Create(ctx, &u); apitoken.ErrorCode(err) != apitoken.Conflict {
				t.Fatalf("dup: %v", err)
			}
			sealer, _ := keys.NewSealer("0123456789abcdef0123456789abcdef")
			ring := keys.NewRing(st.Keys, sealer, nil)
			if err := ring.Load(ctx); err != nil {
				t.Fatal(err)
			}
			ks, _ := ring.List(ctx)
			tok := apitoken.Token{ID: "0194e5a0-0000-7000-8000-000000000002", UserID: u.ID, Description: "d", Scope: "customers", Expiration: now.Add(time.Hour), Enabled: true, KeyID: ks[0].ID, Hash: []byte{1, 2}, CreatedAt: now, UpdatedAt: now}
			if err := st.Tokens.Create(ctx, &tok); err != nil {
				t.Fatal(err)
			}
			c, err := st.Tokens.Credential(ctx, tok.ID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", c)
			list, total, err := st.Tokens.List(ctx, apitoken.TokenFilter{Now: now, Limit: 10, Statuses: []apitoken.Status{apitoken.StatusActive}})
			if err != nil || total != 1 || len(list) != 1 {
				t.Fatal(err, total)
			}
			if _, err := ring.Rotate(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			ks, _ = ring.List(ctx)
			t.Logf("%+v", ks)
		})
	}
}
