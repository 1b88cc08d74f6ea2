package httpapi_test

import (
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
)

func TestMetrics(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	tok, _ := h.mint(member, tokenSpec{scope: "api-tokens"})
	h.do(req{method: "GET", path: tokensPath(member), token: tok}).expectStatus(t, 200, "")
	h.do(req{method: "GET", path: tokensPath(member), token: tok}).expectStatus(t, 200, "")
	h.do(req{method: "GET", path: tokensPath(member)}).expectStatus(t, 401, "unauthorized")
	h.do(req{method: "GET", path: "/no/such/path"}).expectStatus(t, 404, "not_found")

	r := h.do(req{method: "GET", path: "/metrics"})
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, Content-Type %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	for _, want := range []string{
		`tokend_http_requests_total{method="GET",route="/users/:userId/api-tokens",status="200"} 2`,
		`tokend_http_requests_total{method="GET",route="/users/:userId/api-tokens",status="401"} 1`,
		`tokend_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`tokend_http_request_duration_seconds_count{method="GET",route="/users/:userId/api-tokens"} 3`,
		`go_sql_max_open_connections{db_name="tokend"}`,
		"tokend_tokens_purged_total 0",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, member) || strings.Contains(body, tok) {
		t.Error("metrics hold a user id or a token")
	}
}
