package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// revokeAll revokes every token of the user with the caller's token and
// returns the answer.
func (h *harness) revokeAll(caller, userID string) *response {
	return h.do(req{method: "DELETE", path: tokensPath(userID), token: caller})
}

// revokedCount returns meta.revoked of a revoke-all answer.
func revokedCount(t *testing.T, r *response) int {
	t.Helper()
	r.expectStatus(t, http.StatusOK, "")
	doc := r.doc()
	meta, _ := doc["meta"].(map[string]any)
	n, ok := meta["revoked"].(float64)
	if !ok || len(doc) != 1 {
		t.Fatalf("answer %s, want {\"meta\":{\"revoked\":N}}", r.Body)
	}
	return int(n)
}

func TestRevokeAllTokens(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		other := h.user(apitoken.RoleMember)
		var live []string
		for range 3 {
			tok, _ := h.mint(member, tokenSpec{scope: "customers"})
			live = append(live, tok)
		}
		_, disabled := h.mint(member, tokenSpec{scope: "customers"})
		mustPatchToken(t, h, member, disabled, map[string]any{"enabled": false})
		_, revoked := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokenPath(member, revoked), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		_, expired := h.mint(member, tokenSpec{scope: "customers", expiration: h.Clock.Now().Add(time.Minute)})
		othersToken, _ := h.mint(other, tokenSpec{scope: "customers"})
		h.Clock.Advance(2 * time.Minute)
		for _, tok := range live {
			if h.authStatus(tok) != http.StatusOK {
				t.Fatal("a live token does not work before the revocation")
			}
		}

		// The live and the disabled tokens: not the revoked or expired.
		if n := revokedCount(t, h.revokeAll(h.AdminToken, member)); n != 4 {
			t.Fatalf("revoked %d tokens, want 4", n)
		}
		for _, tok := range live {
			if s := h.authStatus(tok); s != http.StatusUnauthorized {
				t.Fatalf("a revoked token answers %d, want 401", s)
			}
		}
		if got := getTokenAttrs(t, h, member, disabled); got["status"] != "revoked" {
			t.Fatalf("the disabled token is %v, want revoked", got["status"])
		}
		if got := getTokenAttrs(t, h, member, expired); got["status"] != "expired" {
			t.Fatalf("the expired token is %v, want expired still", got["status"])
		}
		list := h.do(req{method: "GET", path: tokensPath(member), token: h.AdminToken})
		if ids, p := idsOf(list), pageOf(t, list); p.total != 1 || len(ids) != 1 || ids[0] != expired {
			t.Fatalf("the list holds %v of %d, want the expired token alone", ids, p.total)
		}
		all := h.do(req{method: "GET", path: tokensPath(member) + "?filter[status]=revoked", token: h.AdminToken})
		if p := pageOf(t, all); p.total != 5 {
			t.Fatalf("%d revoked tokens counted, want 5", p.total)
		}
		if h.authStatus(othersToken) != http.StatusOK {
			t.Fatal("another user's token was revoked")
		}
		// Again: nothing left to revoke.
		if n := revokedCount(t, h.revokeAll(h.AdminToken, member)); n != 0 {
			t.Fatalf("revoking again revoked %d, want 0", n)
		}
	})
}

func TestRevokeAllTokensIsAuthorized(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	other := h.user(apitoken.RoleMember)
	writer, _ := h.mint(member, tokenSpec{scope: "api-tokens-write customers"})
	reader, _ := h.mint(member, tokenSpec{scope: "api-tokens"})
	othersToken, _ := h.mint(other, tokenSpec{scope: "customers"})

	h.revokeAll(reader, member).expectStatus(t, http.StatusForbidden, "forbidden")
	h.revokeAll(writer, other).expectStatus(t, http.StatusForbidden, "forbidden")
	h.revokeAll(h.AdminToken, "0193a6c2-59e1-7b0e-8c2f-3e1f4c8d9a10").expectStatus(t, http.StatusNotFound, "not_found")
	r := h.do(req{method: "DELETE", path: tokensPath(member) + "?filter[status]=active", token: h.AdminToken})
	r.expectStatus(t, http.StatusBadRequest, "invalid_value")
	expectSources(t, r, "?filter[status]")
	if h.authStatus(writer) != http.StatusOK || h.authStatus(othersToken) != http.StatusOK {
		t.Fatal("a refused revoke-all revoked tokens")
	}
	// A member revokes all its own tokens, the one it acts with included.
	if n := revokedCount(t, h.revokeAll(writer, member)); n != 2 {
		t.Fatalf("revoked %d, want the member's 2", n)
	}
	if s := h.authStatus(writer); s != http.StatusUnauthorized {
		t.Fatalf("the caller's own token answers %d after revoking all, want 401", s)
	}
}

// TestRevocationByValueWithABearer checks RFC 7009's client authentication
// on POST /revoke: a bearer token that does not authenticate is refused,
// one that does changes nothing, and the token is revoked either way.
func TestRevocationByValueWithABearer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	tok, _ := h.mint(member, tokenSpec{scope: "customers"})
	bystander, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers"})

	r := revokeByValue(h, tok, http.Header{"Authorization": {"Bearer not-a-token"}})
	r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
	if h.authStatus(tok) != http.StatusOK {
		t.Fatal("a request refused for its bearer revoked the token")
	}
	// A bearer that may not revoke the token does not stop its holder.
	r = revokeByValue(h, tok, http.Header{"Authorization": {"Bearer " + bystander}})
	r.expectStatus(t, http.StatusOK, "")
	if len(r.Body) != 0 {
		t.Fatalf("answer body %q, want none", r.Body)
	}
	if h.authStatus(tok) != http.StatusUnauthorized {
		t.Fatal("the token was not revoked")
	}
}
