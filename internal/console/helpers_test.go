package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// mustUser reads a user from tokend's database.
func mustUser(t *testing.T, srv *tokendtest.Server, id string) apitoken.User {
	t.Helper()
	u, err := srv.Store.Users.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustTokens reads a user's tokens, of every status, from tokend's
// database.
func mustTokens(t *testing.T, srv *tokendtest.Server, userID string) []apitoken.Token {
	t.Helper()
	page, err := srv.Store.Tokens.List(context.Background(), apitoken.TokenFilter{UserID: userID, Limit: 1000, Now: time.Now(),
		Statuses: []apitoken.Status{apitoken.StatusActive, apitoken.StatusExpired, apitoken.StatusDisabled, apitoken.StatusRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	return page.Tokens
}

// mustToken returns the user's token with the description.
func mustToken(t *testing.T, srv *tokendtest.Server, userID, description string) apitoken.Token {
	t.Helper()
	for _, tok := range mustTokens(t, srv, userID) {
		if tok.Description == description {
			return tok
		}
	}
	t.Fatalf("user %s has no token %q", userID, description)
	return apitoken.Token{}
}
