package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// fromAddr returns the header a trusted proxy sends for a client address.
func fromAddr(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

// expectRateLimited checks a 429 rate_limited answer and its Retry-After.
func expectRateLimited(t *testing.T, r *response, retryAfter string) {
	t.Helper()
	r.expectStatus(t, http.StatusTooManyRequests, "rate_limited")
	checkErrorDocument(t, r, "")
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

func TestFailedAuthenticationsAreLimitedPerClientAddress(t *testing.T) {
	h := newHarness(t, options{trustedProxies: "127.0.0.1/32", env: map[string]string{"TOKEND_RATE_AUTH_FAILURES": "5/1m"}})
	h.Clock.Freeze() // Retry-After depends on the time passed between requests
	member := h.user(apitoken.RoleMember)
	good, _ := h.mint(member, tokenSpec{scope: "customers api-tokens"})
	bad := good[:len(good)-4] + "AAAA"
	attacker, other := fromAddr("203.0.113.1"), fromAddr("203.0.113.2")
	for i := range 5 {
		path := []string{tokensPath(member), "/auth?scope=customers"}[i%2]
		h.do(req{method: "GET", path: path, token: bad, header: attacker}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
	}
	// The sixth attempt is refused before the token is looked at, on
	// every route that authenticates, even with a good token.
	expectRateLimited(t, h.do(req{method: "GET", path: tokensPath(member), token: bad, header: attacker}), "12")
	expectRateLimited(t, h.do(req{method: "GET", path: "/auth?scope=customers", token: good, header: attacker}), "12")
	expectRateLimited(t, h.do(req{method: "GET", path: "/users/" + member, header: attacker}), "12")
	// Another address is not affected, nor are successes counted.
	for range 10 {
		h.do(req{method: "GET", path: "/auth?scope=customers", token: good, header: other}).expectStatus(t, http.StatusOK, "")
	}
	// One failure's worth of time later, one more attempt is allowed.
	h.Clock.Advance(12 * time.Second)
	h.do(req{method: "GET", path: "/auth?scope=customers", token: good, header: attacker}).expectStatus(t, http.StatusOK, "")
	h.do(req{method: "GET", path: "/auth?scope=customers", token: bad, header: attacker}).expectStatus(t, http.StatusUnauthorized, "")
	expectRateLimited(t, h.do(req{method: "GET", path: "/auth?scope=customers", token: good, header: attacker}), "12")
}

func TestTokenCreationIsLimitedPerUser(t *testing.T) {
	h := newHarness(t, options{env: map[string]string{"TOKEND_RATE_TOKEN_CREATES": "3/1m"}})
	h.Clock.Freeze() // Retry-After depends on the time passed between requests
	member := h.user(apitoken.RoleMember)
	owner, _ := h.mint(member, tokenSpec{scope: "customers api-tokens-write", expiration: time.Now().Add(90 * 24 * time.Hour)})
	create := func(token string) *response {
		attrs := validAttrs()
		attrs["scope"] = "customers"
		return h.do(req{method: "POST", path: tokensPath(member), token: token, body: createBody(attrs)})
	}
	for range 3 {
		create(owner).expectStatus(t, http.StatusCreated, "")
	}
	before := storedTokens(t, h)
	expectRateLimited(t, create(owner), "20")
	if after := storedTokens(t, h); after != before {
		t.Fatalf("a rate-limited creation stored a token: %d, then %d", before, after)
	}
	// The admin is another user, with a bucket of its own.
	create(h.AdminToken).expectStatus(t, http.StatusCreated, "")
	h.Clock.Advance(20 * time.Second)
	create(owner).expectStatus(t, http.StatusCreated, "")
}

func TestLiveTokensPerUserAreCapped(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		// Creations at once, on top of one token: exactly cap-1 fit. With
		// a cap of 40, the first are counted without a lock, far from it.
		for _, tc := range []struct{ cap, creations int }{{4, 10}, {40, 45}} {
			t.Run(fmt.Sprintf("%s/cap %d", d, tc.cap), func(t *testing.T) {
				testLiveTokensCap(t, d, tc.cap, tc.creations)
			})
		}
	}
}

// testLiveTokensCap makes creations at once for a user holding one token,
// under the cap: exactly limit-1 succeed.
func testLiveTokensCap(t *testing.T, d string, limit, creations int) {
	h := newHarness(t, options{dbURL: dbtest.NewURL(t, d), env: map[string]string{"TOKEND_MAX_TOKENS_PER_USER": strconv.Itoa(limit)}})
	member := h.user(apitoken.RoleMember)
	h.mint(member, tokenSpec{scope: "customers"})
	var wg sync.WaitGroup
	statuses := make(chan int, creations)
	for range creations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attrs := validAttrs()
			attrs["scope"] = "customers"
			statuses <- h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(attrs)}).StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusCreated] != limit-1 || counts[http.StatusConflict] != creations-limit+1 {
		t.Log(h.Logs.String()) // the server's reasons for any other status
		t.Fatalf("statuses %v, want %d × 201 and %d × 409", counts, limit-1, creations-limit+1)
	}
	attrs := validAttrs()
	attrs["scope"] = "customers"
	r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(attrs)})
	r.expectStatus(t, http.StatusConflict, "conflict")
	if !strings.Contains(firstDetail(r), "revoke some first") {
		t.Errorf("detail = %q", firstDetail(r))
	}
	// A revoked token no longer counts.
	list := h.do(req{method: "GET", path: tokensPath(member), token: h.AdminToken}).list()
	h.do(req{method: "DELETE", path: tokenPath(member, list[0]["id"].(string)), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
	h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(attrs)}).expectStatus(t, http.StatusCreated, "")
}

// revokeByValue posts the token to /revoke, as RFC 7009 describes it.
func revokeByValue(h *harness, token string, header http.Header) *response {
	if header == nil {
		header = http.Header{}
	}
	return h.do(req{method: "POST", path: "/revoke", body: url.Values{"token": {token}}.Encode(),
		contentType: "application/x-www-form-urlencoded", header: header})
}

func TestRevocationByValue(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		tok, id := h.mint(member, tokenSpec{scope: "customers"})
		other, _ := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "GET", path: "/auth?scope=customers", token: tok}).expectStatus(t, http.StatusOK, "")
		// Holding the token is enough: no Authorization header.
		revokeByValue(h, tok, nil).expectStatus(t, http.StatusOK, "")
		h.do(req{method: "GET", path: "/auth?scope=customers", token: tok}).expectStatus(t, http.StatusUnauthorized, "")
		got := h.do(req{method: "GET", path: tokenPath(member, id), token: h.AdminToken})
		if got.attrs()["status"] != "revoked" {
			t.Fatalf("the token revoked by value is %v", got.attrs()["status"])
		}
		// Whatever else is sent, the answer is 200 and nothing changes.
		for _, v := range []string{tok, "garbage", tok[:len(tok)-4] + "AAAA", "v2.local.abc"} {
			revokeByValue(h, v, nil).expectStatus(t, http.StatusOK, "")
		}
		h.do(req{method: "GET", path: "/auth?scope=customers", token: other}).expectStatus(t, http.StatusOK, "")
		// A request without a token, or not a form, is refused.
		h.do(req{method: "POST", path: "/revoke", body: "", contentType: "application/x-www-form-urlencoded"}).
			expectStatus(t, http.StatusBadRequest, "invalid_value")
		h.do(req{method: "POST", path: "/revoke", body: `{"token":"x"}`, contentType: "application/json"}).
			expectStatus(t, http.StatusUnsupportedMediaType, "")
	})
}

func TestRevocationByValueIsLimitedPerClientAddress(t *testing.T) {
	h := newHarness(t, options{trustedProxies: "127.0.0.1/32", env: map[string]string{"TOKEND_RATE_REVOCATIONS": "3/1m"}})
	h.Clock.Freeze() // Retry-After depends on the time passed between requests
	for range 3 {
		revokeByValue(h, "garbage", fromAddr("203.0.113.9")).expectStatus(t, http.StatusOK, "")
	}
	expectRateLimited(t, revokeByValue(h, "garbage", fromAddr("203.0.113.9")), "20")
	revokeByValue(h, "garbage", fromAddr("203.0.113.10")).expectStatus(t, http.StatusOK, "")
}
