package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	const dashboard = "https://dash.example.com"
	h := newHarness(t, options{env: map[string]string{"TOKEND_CORS_ORIGINS": dashboard + ", https://other.example.com"}})
	preflight := func(h *harness, origin string) *response {
		return h.do(req{method: http.MethodOptions, path: tokensPath(h.AdminID), header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"authorization,content-type"},
		}})
	}
	t.Run("a preflight from an allowed origin is answered", func(t *testing.T) {
		r := preflight(h.on(t), dashboard)
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204", r.StatusCode)
		}
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != dashboard {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, dashboard)
		}
		if got := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
			t.Errorf("Access-Control-Allow-Headers = %q, want Authorization and Content-Type", got)
		}
		if got := r.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "PATCH") || !strings.Contains(got, "DELETE") {
			t.Errorf("Access-Control-Allow-Methods = %q", got)
		}
		if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "" {
			t.Errorf("Access-Control-Allow-Credentials = %q, want none: tokens travel in Authorization", got)
		}
	})
	t.Run("an allowed origin's requests are marked and expose tokend's headers", func(t *testing.T) {
		h := h.on(t)
		r := h.do(req{method: http.MethodGet, path: tokensPath(h.AdminID), token: h.AdminToken, header: http.Header{"Origin": {dashboard}}})
		r.expectStatus(t, http.StatusOK, "")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != dashboard {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, dashboard)
		}
		if got := r.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") || !strings.Contains(got, "X-Request-Id") {
			t.Errorf("Access-Control-Expose-Headers = %q", got)
		}
	})
	t.Run("another origin gets nothing", func(t *testing.T) {
		h := h.on(t)
		for _, r := range []*response{
			preflight(h, "https://evil.example"),
			h.do(req{method: http.MethodGet, path: tokensPath(h.AdminID), token: h.AdminToken, header: http.Header{"Origin": {"https://evil.example"}}}),
			h.do(req{method: http.MethodGet, path: tokensPath(h.AdminID), token: h.AdminToken, header: http.Header{"Origin": {"null"}}}),
		} {
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("%s: Access-Control-Allow-Origin = %q for a foreign origin", r.Request.Method, got)
			}
		}
	})
	t.Run("without TOKEND_CORS_ORIGINS there is no cross-origin access", func(t *testing.T) {
		plain := newHarness(t, options{})
		r := preflight(plain, dashboard)
		// Echo answers OPTIONS with the Allow header; without
		// Access-Control-Allow-Origin a browser sends nothing.
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight: Access-Control-Allow-Origin %q, want none", got)
		}
	})
}
