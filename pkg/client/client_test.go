package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/client"
	"github.com/tokend/tokend/pkg/errcode"
)

func ptr[T any](v T) *T { return &v }

// TestClientAgainstARealServer drives every call against a real tokend:
// users, then a token's whole life, then the refusals as typed errors.
func TestClientAgainstARealServer(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	ctx := context.Background()
	admin := client.New(srv.URL, srv.AdminToken)

	member, err := admin.CreateUser(ctx, client.UserRequest{Email: "dev@example.com", Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	if member.ID == "" || member.Role != "member" || member.Disabled || member.CreatedAt.IsZero() {
		t.Fatalf("created user = %+v", member)
	}
	if got, err := admin.GetUser(ctx, member.ID); err != nil || got.Email != "dev@example.com" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	users, total, err := admin.ListUsers(ctx, client.Page{Limit: 1})
	if err != nil || len(users) != 1 || total != 2 {
		t.Fatalf("ListUsers(limit 1) = %d users, total %d, %v; want 1 of 2", len(users), total, err)
	}

	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	tok, err := admin.CreateToken(ctx, member.ID, client.TokenRequest{
		Description: "CI", Scope: "customers api-tokens", Expiration: exp,
		Resources: []client.Resource{{Type: "account", IDs: []string{"1", "2"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token == "" || tok.UserID != member.ID || tok.Status != "active" || !tok.Expiration.Equal(exp) || len(tok.Resources) != 1 {
		t.Fatalf("created token = %+v", tok)
	}
	// The member's own token reads its tokens through the client.
	self := client.New(srv.URL, tok.Token)
	mine, total, err := self.ListTokens(ctx, member.ID, client.TokenFilter{})
	if err != nil || total != 1 || mine[0].ID != tok.ID || mine[0].Token != "" {
		t.Fatalf("ListTokens = %+v, %d, %v; want the one token without its string", mine, total, err)
	}
	got, err := admin.UpdateToken(ctx, member.ID, tok.ID, client.TokenUpdate{Description: ptr("CI runner"), Enabled: ptr(false)})
	if err != nil || got.Description != "CI runner" || got.Enabled || got.Status != "disabled" {
		t.Fatalf("UpdateToken = %+v, %v", got, err)
	}
	if got, err = admin.GetToken(ctx, member.ID, tok.ID); err != nil || got.Description != "CI runner" {
		t.Fatalf("GetToken = %+v, %v", got, err)
	}
	if got, err = admin.RevokeToken(ctx, member.ID, tok.ID); err != nil || got.Status != "revoked" || got.RevokedAt == nil {
		t.Fatalf("RevokeToken = %+v, %v", got, err)
	}
	all, _, err := admin.ListAllTokens(ctx, member.ID, client.TokenFilter{Statuses: []string{"revoked"}})
	if err != nil || len(all) != 1 || all[0].ID != tok.ID {
		t.Fatalf("ListAllTokens(revoked) = %+v, %v", all, err)
	}
	if u, err := admin.UpdateUser(ctx, member.ID, client.UserUpdate{Disabled: ptr(true)}); err != nil || !u.Disabled {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}

	// Refusals are *client.Error with tokend's codes.
	_, _, err = self.ListTokens(ctx, member.ID, client.TokenFilter{})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 401 || client.CodeOf(err) != errcode.Unauthorized {
		t.Fatalf("a revoked token's call: %v, want a 401 unauthorized *client.Error", err)
	}
	_, err = admin.GetToken(ctx, member.ID, "01a23c2f-0000-7000-8000-000000000000")
	if client.CodeOf(err) != errcode.NotFound {
		t.Fatalf("an unknown token: %v, want not_found", err)
	}
	_, err = admin.CreateToken(ctx, srv.AdminID, client.TokenRequest{Description: "", Scope: "nope", Expiration: time.Now().Add(-time.Hour)})
	if !errors.As(err, &e) || e.Code() != errcode.Invalid || len(e.Errors) < 3 || e.Errors[0].Source == nil {
		t.Fatalf("an invalid request: %v, want every problem with its pointer", err)
	}
	// Revocation by value needs only the token.
	leaked, err := admin.CreateToken(ctx, srv.AdminID, client.TokenRequest{Description: "leaked", Scope: "customers", Expiration: exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.New(srv.URL, "").RevokeByValue(ctx, leaked.Token); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.GetToken(ctx, srv.AdminID, leaked.ID); err != nil || got.Status != "revoked" {
		t.Fatalf("after RevokeByValue the token is %+v, %v", got, err)
	}
	if client.CodeOf(context.Canceled) != "" {
		t.Fatal("CodeOf gave a code to an error that is not tokend's")
	}
}

// TestEachTokenPagesByCursor lists 23 tokens 5 a page with EachToken: every
// token once, oldest first, and a stop of the loop stops the paging.
func TestEachTokenPagesByCursor(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	ctx := context.Background()
	admin := client.New(srv.URL, srv.AdminToken)
	member, err := admin.CreateUser(ctx, client.UserRequest{Email: "each@example.com", Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for range 23 {
		tok, err := admin.CreateToken(ctx, member.ID, client.TokenRequest{Description: "each", Scope: "customers", Expiration: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, tok.ID)
	}
	var got []string
	for tok, err := range admin.EachToken(ctx, member.ID, client.TokenFilter{Page: client.Page{Limit: 5}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EachToken gave %v,\nwant %v", got, want)
	}
	n := 0
	for range admin.EachToken(ctx, member.ID, client.TokenFilter{Page: client.Page{Limit: 5}}) {
		if n++; n == 7 {
			break
		}
	}
	if n != 7 {
		t.Fatalf("the loop ran %d times, want 7", n)
	}
}
