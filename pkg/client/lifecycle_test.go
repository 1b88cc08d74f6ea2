package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/client"
	"github.com/tokend/tokend/pkg/errcode"
)

// TestClientRotatesFiltersAndRevokesAll drives the lifecycle calls against
// a real tokend: a token renews itself, the inventory filters find tokens,
// and revoke-all counts what it revoked.
func TestClientRotatesFiltersAndRevokesAll(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	ctx := context.Background()
	admin := client.New(srv.URL, srv.AdminToken)
	member, err := admin.CreateUser(ctx, client.UserRequest{Email: "ci@example.com", Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, member.ID, client.TokenRequest{
		Description: "CI", Scope: "customers api-tokens-write", Expiration: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	// The token renews itself, with a grace window.
	self := client.New(srv.URL, tok.Token)
	grace := time.Now().Add(time.Hour).Truncate(time.Second)
	renewed, err := self.RotateToken(ctx, member.ID, tok.ID, client.TokenRotation{PreviousExpiration: grace})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Token == "" || renewed.RotatedFrom != tok.ID || renewed.Description != "CI" || renewed.Scope != tok.Scope {
		t.Fatalf("RotateToken = %+v", renewed)
	}
	if old, err := admin.GetToken(ctx, member.ID, tok.ID); err != nil || old.RotatedTo != renewed.ID || !old.Expiration.Equal(grace) {
		t.Fatalf("the old token = %+v, %v; want rotatedTo the new one and its grace as expiration", old, err)
	}
	// Rotating it again is a conflict.
	if _, err := admin.RotateToken(ctx, member.ID, tok.ID, client.TokenRotation{}); client.CodeOf(err) != errcode.Conflict {
		t.Fatalf("a second rotation: %v, want a conflict", err)
	}

	// Both expire within 100 hours, hold api-tokens-write, were last
	// used before now (or never) and were not reported leaked.
	soon, total, err := admin.ListTokens(ctx, member.ID, client.TokenFilter{ExpiresBefore: time.Now().Add(100 * time.Hour)})
	if err != nil || total != 2 || len(soon) != 2 {
		t.Fatalf("ListTokens(expiring) = %d of %d, %v; want 2", len(soon), total, err)
	}
	no := false
	if _, total, err := admin.ListTokens(ctx, member.ID, client.TokenFilter{
		Scope: "api-tokens-write", LastUsedBefore: time.Now(), Leaked: &no}); err != nil || total != 2 {
		t.Fatalf("ListTokens(inventory) = %d, %v; want both tokens", total, err)
	}
	if _, total, err := admin.ListTokens(ctx, member.ID, client.TokenFilter{Scope: "accounts"}); err != nil || total != 0 {
		t.Fatalf("ListTokens(scope accounts) = %d, %v; want none", total, err)
	}

	n, err := admin.RevokeAllTokens(ctx, member.ID)
	if err != nil || n != 2 {
		t.Fatalf("RevokeAllTokens = %d, %v; want 2", n, err)
	}
	if n, err := admin.RevokeAllTokens(ctx, member.ID); err != nil || n != 0 {
		t.Fatalf("RevokeAllTokens again = %d, %v; want 0", n, err)
	}
}
