package console_test

import (
	"context"
	"fmt"
	"net/http"
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

// mint issues a token for the user with the scopes (space-separated),
// expiring at exp, and returns the token string and its id.
func mint(t *testing.T, srv *tokendtest.Server, userID, scope string, exp time.Time) (string, string) {
	t.Helper()
	return mintDescribed(t, srv, userID, "console test", scope, exp)
}

// mintDescribed is mint with the token's description.
func mintDescribed(t *testing.T, srv *tokendtest.Server, userID, desc, scope string, exp time.Time) (string, string) {
	t.Helper()
	expiration := exp.UTC().Format(time.RFC3339)
	tok, raw, err := srv.Service.IssueToken(context.Background(), userID,
		apitoken.TokenRequest{Description: &desc, Scope: &scope, Expiration: &expiration})
	if err != nil {
		t.Fatal(err)
	}
	return raw, tok.ID
}

// getStatus returns the status of a GET of the path with the token.
func getStatus(t *testing.T, srv *tokendtest.Server, path, token string) int {
	t.Helper()
	resp := get(t, srv, path, token, nil)
	resp.Body.Close()
	return resp.StatusCode
}

// get sends GET path to tokend with the token and the headers, and
// returns the answer, whose body the caller closes.
func get(t *testing.T, srv *tokendtest.Server, path, token string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signIn signs in with the token and waits for the page after it.
func (p *page) signIn(token, heading string) {
	p.t.Helper()
	p.get("textbox", "Token").fill(token)
	p.get("button", "Sign in").click()
	p.get("heading", heading)
}

// done dismisses the panel (region) that shows a new token with Done: the
// panel is gone, New token has the focus, and the page holds the token
// nowhere.
func (p *page) done(panel *el, region, token string) {
	p.t.Helper()
	panel.get("button", "Done").click()
	p.gone("region", region)
	if !p.get("button", "New token").focused() {
		p.t.Error("New token does not have the focus after Done")
	}
	p.holdsNoToken(token)
}

// holdsNoToken fails the test if the token is anywhere the browser keeps
// things: storage, cookies, the URL, the document, its fields.
func (p *page) holdsNoToken(token string) {
	p.t.Helper()
	where := eval[[]string](p, fmt.Sprintf(`(() => {
	  const t = %q, found = [];
	  if (localStorage.length > 0) found.push('localStorage holds ' + localStorage.length + ' items');
	  if (sessionStorage.length > 0) found.push('sessionStorage holds ' + sessionStorage.length + ' items');
	  if (document.cookie !== '') found.push('cookies: ' + document.cookie);
	  if (location.href.includes(t) || history.state !== null && JSON.stringify(history.state).includes(t)) found.push('the URL or history');
	  if (document.documentElement.outerHTML.includes(t)) found.push('the document');
	  for (const f of document.querySelectorAll('input, textarea')) if (f.value.includes(t)) found.push('field ' + (f.id || f.name));
	  return found;
	})()`, token))
	if len(where) > 0 {
		p.t.Errorf("the token is kept in: %v", where)
	}
}
