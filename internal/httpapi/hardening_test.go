package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// TestHeadAnswersLikeGet sends HEAD to every GET route: the status and the
// headers are GET's, and no body comes back.
func TestHeadAnswersLikeGet(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	_, tokenID := h.mint(member, tokenSpec{scope: "customers"})
	for _, path := range []string{
		"/healthz", "/readyz", "/metrics", "/.well-known/paseto-keys", "/revocations",
		"/users", "/users/" + member, tokensPath(member), tokenPath(member, tokenID), "/api-tokens",
		"/users/" + member + "/api-tokens/0193a6c2-59e1-7b0e-8c2f-3e1f4c8d9a10", // not found
	} {
		t.Run(path, func(t *testing.T) {
			get := h.do(req{method: http.MethodGet, path: path, token: h.AdminToken})
			head := h.do(req{method: http.MethodHead, path: path, token: h.AdminToken})
			if head.StatusCode != get.StatusCode {
				t.Errorf("HEAD %s = %d, GET = %d", path, head.StatusCode, get.StatusCode)
			}
			if a, b := head.Header.Get("Content-Type"), get.Header.Get("Content-Type"); a != b {
				t.Errorf("HEAD Content-Type = %q, GET's = %q", a, b)
			}
			if len(head.Body) != 0 {
				t.Errorf("HEAD answered with a body of %d bytes", len(head.Body))
			}
		})
	}
	t.Run("HEAD needs the token GET needs", func(t *testing.T) {
		r := h.do(req{method: http.MethodHead, path: "/users"})
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("HEAD /users without a token = %d, want 401", r.StatusCode)
		}
	})
}

// TestLinksIgnoreTheHostHeader sends a Host and an X-Forwarded-Host of an
// attacker's: without TOKEND_PUBLIC_URL links start with the address the
// connection reached, never with either header.
func TestLinksIgnoreTheHostHeader(t *testing.T) {
	h := newHarness(t, options{trustedProxies: "127.0.0.1/32"})
	for _, header := range []string{"Host", "X-Forwarded-Host"} {
		t.Run(header, func(t *testing.T) {
			hr, err := http.NewRequest(http.MethodGet, h.URL+tokensPath(h.AdminID), nil)
			if err != nil {
				t.Fatal(err)
			}
			hr.Header.Set("Authorization", "Bearer "+h.AdminToken)
			if header == "Host" {
				hr.Host = "evil.example"
			} else {
				hr.Header.Set(header, "evil.example")
				hr.Header.Set("X-Forwarded-Proto", "https")
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "evil.example") {
				t.Fatalf("a link echoes the %s header: %s", header, body)
			}
			if !strings.Contains(string(body), `"self":"`+h.URL+tokensPath(h.AdminID)) {
				t.Fatalf("links do not start with the listener's address %s: %s", h.URL, body)
			}
		})
	}
}

// TestMembersHoldIntrospectOnlyWhenGiven: introspect reads every user's
// token states and names, so a member holds it only when an admin gives
// it explicitly, as to a downstream service's user.
func TestMembersHoldIntrospectOnlyWhenGiven(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	attrs := validAttrs()
	attrs["scope"] = "introspect"
	r := h.do(req{method: http.MethodPost, path: tokensPath(member), token: h.AdminToken, body: createBody(attrs)})
	if r.StatusCode < 400 || r.StatusCode >= 500 {
		t.Fatalf("a token with introspect for a member without it: %d, want a refusal\n%s", r.StatusCode, r.Body)
	}
	// A token carrying introspect for such a member (issued before the
	// scope became opt-in) does not get it.
	now := time.Now()
	old := h.forge(member, verifier.Claims{Scope: "introspect customers", IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour)}, nil)
	h.do(req{method: http.MethodGet, path: "/revocations", token: old}).expectStatus(t, http.StatusForbidden, "")
	service := h.user(apitoken.RoleMember, "introspect", "customers")
	tok, _ := h.mint(service, tokenSpec{scope: "introspect"})
	h.do(req{method: http.MethodGet, path: "/revocations", token: tok}).expectStatus(t, http.StatusOK, "")
}

// TestTwoAdminsDisabledAtOnceLeaveOne disables the two enabled admins at
// the same time, over and over: each time exactly one disable succeeds.
func TestTwoAdminsDisabledAtOnceLeaveOne(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		other := h.user(apitoken.RoleAdmin)
		ctx := context.Background()
		for range 10 {
			errs := make(chan error, 2)
			for _, id := range []string{h.AdminID, other} {
				go func() {
					_, err := h.Service.SetUserDisabled(ctx, id, true)
					errs <- err
				}()
			}
			var conflicts int
			for range 2 {
				if err := <-errs; apitoken.ErrorCode(err) == apitoken.Conflict {
					conflicts++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if conflicts != 1 {
				t.Fatalf("%d of the two disables were refused, want exactly one", conflicts)
			}
			for _, id := range []string{h.AdminID, other} {
				if _, err := h.Service.SetUserDisabled(ctx, id, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// TestDocumentsEncodingJSONWouldBendAreRefused sends documents that
// encoding/json reads without complaint but that mean something else to
// another reader: each is a 400 pointing at the place, and changes nothing.
func TestDocumentsEncodingJSONWouldBendAreRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		_, tokenID := h.mint(member, tokenSpec{scope: "customers"})
		exp := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z")
		for _, tc := range []struct {
			name, method, path, body, pointer string
		}{
			{"invalid UTF-8 in a value", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"caf` + "\xe9" + `","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data/attributes/description"},
			{"invalid UTF-8 in a member name", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"descr` + "\xff" + `":"x","description":"d","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data/attributes/descr\ufffd"},
			{"invalid UTF-8 in an array", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"d","scope":"customers","expiration":"` + exp + `","resources":[{"type":"account","ids":["1","` + "\xc3" + `"]}]}}}`,
				"/data/attributes/resources/0/ids/1"},
			{"a repeated attribute", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"d","scope":"customers","scope":"customers payments-write","expiration":"` + exp + `"}}}`,
				"/data/attributes/scope"},
			{"a repeated top-level member", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{}},"data":{"type":"apiToken","attributes":{"description":"d","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data"},
			{"a repeated attribute in an update", "PATCH", tokenPath(member, tokenID),
				`{"data":{"type":"apiToken","id":"` + tokenID + `","attributes":{"enabled":true,"enabled":false}}}`,
				"/data/attributes/enabled"},
			{"an expiration with a comma before its fraction", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"d","scope":"customers","expiration":"` + strings.Replace(exp, "Z", ",5Z", 1) + `"}}}`,
				"/data/attributes/expiration"},
			{"a description with a right-to-left override", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"ci \u202Etxt.exe","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data/attributes/description"},
			{"a description with a C1 control", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"a\u0085b","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data/attributes/description"},
			{"a description of zero-width characters", "POST", tokensPath(member),
				`{"data":{"type":"apiToken","attributes":{"description":"\u200b\u200d\ufeff","scope":"customers","expiration":"` + exp + `"}}}`,
				"/data/attributes/description"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := storedTokens(t, h)
				r := h.do(req{method: tc.method, path: tc.path, token: h.AdminToken, body: tc.body})
				r.expectStatus(t, http.StatusBadRequest, "")
				checkErrorDocument(t, r, tc.pointer)
				if after := storedTokens(t, h); after != before {
					t.Errorf("the refused request changed the token count from %d to %d", before, after)
				}
				if tc.method == "PATCH" {
					got := h.do(req{method: "GET", path: tc.path, token: h.AdminToken})
					if got.attrs()["enabled"] != true {
						t.Errorf("the refused update changed the token: %s", got.Body)
					}
				}
			})
		}
	})
}

// TestErrorListsAreBounded sends 3,000 unknown attributes: the answer lists
// 20 errors and says how many there were.
func TestErrorListsAreBounded(t *testing.T) {
	h := newHarness(t, options{})
	attrs := validAttrs()
	for i := range 3000 {
		attrs["unknown"+strconv.Itoa(i)] = i
	}
	r := h.do(req{method: "POST", path: tokensPath(h.AdminID), token: h.AdminToken, body: createBody(attrs)})
	r.expectStatus(t, http.StatusBadRequest, "")
	if n := len(r.errors()); n != 20 {
		t.Errorf("%d error objects, want 20", n)
	}
	meta, _ := r.doc()["meta"].(map[string]any)
	if meta["totalErrors"] != 3000.0 || meta["shownErrors"] != 20.0 {
		t.Errorf("meta = %v, want totalErrors 3000 and shownErrors 20", meta)
	}
	if len(r.Body) > 8<<10 {
		t.Errorf("the error document is %d bytes", len(r.Body))
	}
}

// TestTokensInPathsAreNotLogged puts a real token in a request path: the
// access log names the path with the token replaced.
func TestTokensInPathsAreNotLogged(t *testing.T) {
	h := newHarness(t, options{})
	tok, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers"})
	h.do(req{method: "GET", path: "/users/" + tok + "/api-tokens", token: h.AdminToken})
	h.do(req{method: "GET", path: "/auth/api/" + tok, token: tok})
	h.do(req{method: "GET", path: "/users/k2.secret.AAAA/api-tokens", token: h.AdminToken})
	// A small answer is sent when the handler returns, after its log line
	// was written.
	logs := h.Logs.String()
	for _, secret := range []string{tok, tok[len(tok)-20:], "k2.secret.AAAA"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a token from a path:\n%s", logs)
		}
	}
	if !strings.Contains(logs, `"path":"/users/[redacted]/api-tokens"`) || !strings.Contains(logs, `"path":"/auth/api/[redacted]"`) {
		t.Fatalf("the paths were not logged with the token redacted:\n%s", logs)
	}
}

// TestRefusalsAreLoggedWithTheirReason: the access log line of a 401 or
// 403 says why, and still holds no token.
func TestRefusalsAreLoggedWithTheirReason(t *testing.T) {
	h := newHarness(t, options{})
	tok, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers"})
	h.do(req{method: "GET", path: "/auth?scope=payments", token: tok}).expectStatus(t, http.StatusForbidden, "")
	h.do(req{method: "GET", path: "/auth?scope=customers", token: tok[:len(tok)-4] + "AAAA"}).expectStatus(t, http.StatusUnauthorized, "")
	var reasons []string
	for _, line := range strings.Split(strings.TrimSpace(h.Logs.String()), "\n") {
		var entry struct {
			Msg     string `json:"msg"`
			Status  int    `json:"status"`
			Refusal string `json:"refusal"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "request" && entry.Status >= 400 {
			reasons = append(reasons, strconv.Itoa(entry.Status)+" "+entry.Refusal)
		}
		if strings.Contains(line, tok[len(tok)-20:]) {
			t.Fatalf("a log line holds the token: %s", line)
		}
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "403 The token lacks the \"payments\" scope") || !strings.HasPrefix(reasons[1], "401 ") || len(reasons[1]) < 10 {
		t.Fatalf("refusals logged as %q, want the 403's and the 401's reasons", reasons)
	}
}
