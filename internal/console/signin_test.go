package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestSignIn goes through signing in as a member: refusals shown as
// alerts, the user's email once in, the token kept nowhere but in memory
// (a reload asks again), and Sign out forgetting it.
func TestSignIn(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, _ := srv.Mint(member, tokendtest.Scopes("customers", "api-tokens", "api-tokens-write"))
	revoked, revokedID := srv.Mint(member, "api-tokens")
	srv.Revoke(member, revokedID)
	email := mustUser(t, srv, member).Email

	p := open(t, srv)
	p.get("heading", "Sign in")
	p.axe("the sign-in page")
	if field := p.get("textbox", "Token"); !field.focused() {
		t.Error("the Token field does not have the focus on the sign-in page")
	}

	for _, tc := range []struct {
		name, token, alert string
	}{
		{"an empty field asks for a token", "", "Paste a token"},
		{"a string that is no PASETO token is refused before any request", "hello", "This is not a tokend token"},
		{"a damaged token is refused before any request", "v2.public.!!!", "damaged"},
		{"a revoked token is refused by tokend", revoked, "did not accept the token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := p.on(t)
			p.get("textbox", "Token").fill(tc.token)
			p.get("button", "Sign in").click()
			p.alert(tc.alert)
			p.axe("the sign-in page with an error")
			if len(p.all("button", "Sign out")) != 0 {
				t.Fatal("signed in")
			}
		})
	}

	p.signIn(token, "Your tokens")
	if banner := p.get("banner", "").text(); !strings.Contains(banner, email) {
		t.Errorf("the header shows %q, not the user's email %s", banner, email)
	}
	if len(p.all("link", "Users")) != 0 {
		t.Error("a member sees a Users link")
	}
	p.holdsNoToken(token)
	p.axe("the tokens page")

	// A member who asks for the users page gets its own tokens.
	p.do(chromedp.Navigate(srv.URL + "/console/#/users"))
	p.until("the member's tokens page again", func() bool {
		return eval[string](p, `location.hash`) == "#/tokens"
	})
	p.get("heading", "Your tokens")
	if len(p.all("heading", "Users")) != 0 {
		t.Error("a member reached the users page")
	}

	p.do(chromedp.Reload())
	p.get("heading", "Sign in")
	if len(p.all("button", "Sign out")) != 0 {
		t.Error("still signed in after a reload")
	}
	p.holdsNoToken(token)

	p.signIn(token, "Your tokens")
	p.get("button", "Sign out").click()
	p.get("heading", "Sign in")
	p.status("Signed out")
	if strings.Contains(p.get("banner", "").text(), email) {
		t.Error("the email is still shown after signing out")
	}
	p.holdsNoToken(token)
}
