package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/console"
)

// TestConsoleFiles checks how the web console is served: from / and
// /console by a redirect, every file with the security headers and an
// ETag it revalidates by, HEAD like GET, and an unknown file as a JSON:API
// 404.
func TestConsoleFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, path := range []string{"/", "/console"} {
		resp, err := noRedirect.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
			t.Errorf("GET %s = %d to %q, want 302 to /console/", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	files := console.New().Names()
	if len(files) < 5 {
		t.Fatalf("the console has %d files: %v", len(files), files)
	}
	for _, name := range append(files, "") {
		t.Run("/console/"+name, func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: http.MethodGet, path: "/console/" + name})
			r.expectStatus(t, http.StatusOK, "")
			want := map[string]string{
				"Content-Security-Policy": console.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-cache",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			ct := r.Header.Get("Content-Type")
			switch {
			case name == "" || strings.HasSuffix(name, ".html"):
				if ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
			case strings.HasSuffix(name, ".js"):
				if ct != "text/javascript; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
			if len(r.Body) == 0 {
				t.Fatal("empty body")
			}
			etag := r.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again := h.do(req{method: http.MethodGet, path: "/console/" + name, header: http.Header{"If-None-Match": {etag}}})
			again.expectStatus(t, http.StatusNotModified, "")
			if len(again.Body) != 0 {
				t.Errorf("304 with a body of %d bytes", len(again.Body))
			}
			head := h.do(req{method: http.MethodHead, path: "/console/" + name})
			head.expectStatus(t, http.StatusOK, "")
			if len(head.Body) != 0 || head.Header.Get("ETag") != etag || head.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("HEAD answered %d bytes, ETag %q, CSP %q", len(head.Body), head.Header.Get("ETag"), head.Header.Get("Content-Security-Policy"))
			}
		})
	}

	r := h.do(req{method: http.MethodGet, path: "/console/no-such-file.js"})
	r.expectStatus(t, http.StatusNotFound, "not_found")
}

// TestUsersTokenGrant checks meta.tokenGrant of user resources, what the
// console offers in its New token form: the user's allowed scopes and the
// longest lifetime for an admin's token minting for a member; the
// intersection with the token's scopes, up to its expiration, for a token
// reading its own user; the token's source restriction. What it says is
// granted is: a token of exactly that is created.
func TestUsersTokenGrant(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		const maxLifetime = 366 * 24 * time.Hour
		member := h.user(apitoken.RoleMember, "customers", "accounts", "api-tokens", "api-tokens-write")
		exp := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
		own, _ := h.mint(member, tokenSpec{scope: "accounts api-tokens api-tokens-write", expiration: exp})
		boundExp := time.Now().Add(20 * 24 * time.Hour).Truncate(time.Second)
		bound, _ := h.mint(member, tokenSpec{scope: "customers api-tokens api-tokens-write", sourceIP: "127.0.0.0/8", expiration: boundExp})

		for _, tc := range []struct {
			name, token, scope, sourceIP string
			maxExpiration                time.Time // zero: now plus the maximum lifetime
		}{
			{"an admin's token reading a member may give the member's scopes for the longest lifetime", h.AdminToken,
				"customers accounts api-tokens api-tokens-write", "", time.Time{}},
			{"a member's token reading itself may give the scopes both hold, until it expires", own,
				"accounts api-tokens api-tokens-write", "", exp},
			{"a token bound to addresses passes its bounds on", bound,
				"customers api-tokens api-tokens-write", "127.0.0.0/8", boundExp},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				before := time.Now()
				r := h.do(req{method: http.MethodGet, path: "/users/" + member, token: tc.token})
				r.expectStatus(t, http.StatusOK, "")
				meta, _ := r.data()["meta"].(map[string]any)
				grant, _ := meta["tokenGrant"].(map[string]any)
				if grant == nil {
					t.Fatalf("no meta.tokenGrant: %s", r.Body)
				}
				if grant["scope"] != tc.scope {
					t.Errorf("scope = %v, want %q", grant["scope"], tc.scope)
				}
				if got, _ := grant["sourceIp"].(string); got != tc.sourceIP {
					t.Errorf("sourceIp = %q, want %q", got, tc.sourceIP)
				}
				max, err := time.Parse(time.RFC3339, grant["maxExpiration"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if tc.maxExpiration.IsZero() {
					if lo, hi := before.Add(maxLifetime).Add(-time.Second), time.Now().Add(maxLifetime); max.Before(lo) || max.After(hi) {
						t.Errorf("maxExpiration = %v, want between %v and %v", max, lo, hi)
					}
				} else if !max.Equal(tc.maxExpiration) {
					t.Errorf("maxExpiration = %v, want %v", max, tc.maxExpiration)
				}

				attrs := map[string]any{"description": "all it may", "scope": grant["scope"], "expiration": grant["maxExpiration"]}
				if tc.sourceIP != "" {
					attrs["sourceIp"] = tc.sourceIP
				}
				c := h.do(req{method: http.MethodPost, path: tokensPath(member), token: tc.token, body: createBody(attrs)})
				c.expectStatus(t, http.StatusCreated, "")
			})
		}

		// Lists of users carry it too, for each user.
		r := h.do(req{method: http.MethodGet, path: "/users", token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
		for _, u := range r.list() {
			if meta, _ := u["meta"].(map[string]any); meta["tokenGrant"] == nil {
				t.Errorf("user %v in the list has no meta.tokenGrant", u["id"])
			}
		}
	})
}
