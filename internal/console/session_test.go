package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestSessionEndsOn401 revokes the signed-in token behind the console's
// back: the next request's 401 returns to the sign-in page, saying why.
func TestSessionEndsOn401(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, id := srv.Mint(member, tokendtest.Scopes("api-tokens", "api-tokens-write"))

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	p.row("Tokens", "tokendtest") // the page has read all it reads at first
	srv.Revoke(member, id)
	p.get("combobox", "Status").choose("active")
	p.get("heading", "Sign in")
	if text := p.alert("You have been signed out"); !strings.Contains(text, "revoked") {
		t.Errorf("the alert says %q, not that the token was revoked", text)
	}
	if len(p.all("button", "Sign out")) != 0 {
		t.Error("still signed in")
	}
	p.axe("the sign-in page after a 401")
	p.holdsNoToken(token)
}

// TestForbiddenNamesTheScope signs in with tokens that lack a scope a page
// needs: the page explains which, from tokend's 403.
func TestForbiddenNamesTheScope(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	writeOnly, _ := srv.Mint(member, "api-tokens-write")
	adminNoUsers, _ := mint(t, srv, srv.AdminID, "api-tokens api-tokens-write", time.Now().Add(time.Hour))

	p := open(t, srv)
	p.signIn(writeOnly, "Your tokens")
	p.alert(`Not allowed: The token lacks the "api-tokens" scope.`)
	p.axe("the tokens page refused")

	p.get("button", "Sign out").click()
	p.signIn(adminNoUsers, "Your tokens")
	p.get("link", "Users").click()
	p.get("heading", "Users")
	p.alert(`Not allowed: The token lacks the "users" scope.`)
}

// TestSessionEndsOn401InADialog revokes the signed-in token while the
// Rotate dialog is open: rotating then gets a 401, which returns to the
// sign-in page without the dialog, and rotates nothing.
func TestSessionEndsOn401InADialog(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, id := srv.Mint(member, tokendtest.Scopes("customers", "api-tokens", "api-tokens-write"))
	mintDescribed(t, srv, member, "Reports", "customers", time.Now().Add(time.Hour))

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	p.row("Tokens", "Reports").get("button", "Rotate").click()
	dialog := p.get("dialog", "Rotate “Reports”?")
	srv.Revoke(member, id)
	dialog.get("button", "Rotate").click()
	p.get("heading", "Sign in")
	p.alert("You have been signed out")
	p.gone("dialog", "Rotate “Reports”?")
	if !p.get("textbox", "Token").focused() {
		t.Error("the Token field does not have the focus after the 401")
	}
	if tok := mustToken(t, srv, member, "Reports"); tok.RotatedTo != "" || len(mustTokens(t, srv, member)) != 2 {
		t.Error("a refused rotation rotated the token")
	}
	p.axe("the sign-in page after a 401 in a dialog")
}
