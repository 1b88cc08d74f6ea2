package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSeedWalkthrough follows Unit's Org API Tokens document: create a
// token, list the user's tokens, revoke one. Only the host, the ids and the
// dates differ from the seed's curl examples.
func TestSeedWalkthrough(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		exp := time.Now().Add(200*24*time.Hour).UTC().Format("2006-01-02T15:04:05") + ".000Z"
		created := h.do(req{method: "POST", path: tokensPath(h.AdminID), token: h.AdminToken,
			body: `{  "data": {    "type": "apiToken",    "attributes": {      "description": "Production token",      "scope": "customers applications",      "expiration": "` + exp + `"    }  }}`})
		created.expectStatus(t, http.StatusCreated, "")
		a := created.attrs()
		if a["description"] != "Production token" || a["expiration"] != exp || a["scope"] != "customers applications" {
			t.Fatalf("created attributes = %v", a)
		}
		if tok, _ := a["token"].(string); !strings.HasPrefix(tok, "v2.public.") {
			t.Fatalf("token = %q, want a v2.public token", a["token"])
		}
		id := created.data()["id"].(string)
		if loc := created.Header.Get("Location"); loc != h.URL+tokensPath(h.AdminID)+"/"+id {
			t.Fatalf("Location = %q", loc)
		}

		list := h.do(req{method: "GET", path: tokensPath(h.AdminID), token: h.AdminToken})
		list.expectStatus(t, http.StatusOK, "")
		found := false
		for _, r := range list.list() {
			attrs := r["attributes"].(map[string]any)
			if _, leaked := attrs["token"]; leaked {
				t.Fatal("list shows a token string")
			}
			found = found || r["id"] == id
		}
		if !found {
			t.Fatalf("created token %s missing from the list", id)
		}

		revoked := h.do(req{method: "DELETE", path: tokensPath(h.AdminID) + "/" + id, token: h.AdminToken})
		revoked.expectStatus(t, http.StatusOK, "")
		if revoked.attrs()["status"] != "revoked" || revoked.data()["id"] != id {
			t.Fatalf("revoke answered %s", revoked.Body)
		}
	})
}

// TestSeedListExampleAsWritten runs the seed's List example as it is
// written there: "curl -X POST" with only an Authorization header. A POST
// with neither body nor Content-Type lists; one declaring a body creates.
func TestSeedListExampleAsWritten(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user("member")
	tok, id := h.mint(member, tokenSpec{scope: "api-tokens"})

	r := h.do(req{method: "POST", path: tokensPath(member), token: tok})
	r.expectStatus(t, http.StatusOK, "")
	if list := r.list(); len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("the List example answered %s", r.Body)
	}
	// A token that may write gets told its body is empty; one that may
	// not is refused before its body is looked at.
	declared := http.Header{"Content-Type": {"application/vnd.api+json"}}
	h.do(req{method: "POST", path: tokensPath(member), token: tok, header: declared}).expectStatus(t, http.StatusForbidden, "forbidden")
	writer, _ := h.mint(member, tokenSpec{scope: "api-tokens api-tokens-write"})
	r = h.do(req{method: "POST", path: tokensPath(member), token: writer, header: declared})
	r.expectStatus(t, http.StatusBadRequest, "invalid_value")
	if d := r.errors()[0]["detail"].(string); !strings.Contains(d, "empty") {
		t.Fatalf("detail = %q", d)
	}
}
