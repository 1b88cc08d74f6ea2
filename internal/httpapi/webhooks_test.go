package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tokend/tokend/internal/apitoken"
)

// receiver is a real HTTP endpoint that verifies each delivery with the
// official Standard Webhooks library once it knows the secret, and keeps
// what it received.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []delivery
	// status answers each request; nil answers 204.
	status func(n int) int
	n      int
	ch     chan struct{}
}

// delivery is one request a receiver accepted, verified with the secret
// the receiver knows when it is read.
type delivery struct {
	ID      string
	Payload map[string]any
	Err     error

	body   []byte
	header http.Header
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, ch: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	n, secret := r.n, r.secret
	status := http.StatusNoContent
	if r.status != nil {
		status = r.status(n)
	}
	_ = secret
	d := delivery{ID: req.Header.Get("webhook-id"), body: body, header: req.Header.Clone()}
	json.Unmarshal(body, &d.Payload)
	if status < 300 {
		r.got = append(r.got, d)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	r.ch <- struct{}{}
}

// setSecret tells the receiver the webhook's secret.
func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// received returns the deliveries accepted so far.
func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]delivery(nil), r.got...)
	for i := range out {
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil {
			err = wh.Verify(out[i].body, out[i].header)
		}
		out[i].Err = err
	}
	return out
}

// waitFor waits until cond holds of the accepted deliveries, or fails
// the test after a deadline.
func (r *receiver) waitFor(what string, cond func([]delivery) bool) []delivery {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := r.received(); cond(got) {
			return got
		}
		select {
		case <-r.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("timed out waiting for %s; received %d deliveries", what, len(r.received()))
		}
	}
}

// webhookOptions let webhooks reach the loopback receivers, poll often and
// retry soon.
var webhookOptions = options{env: map[string]string{
	"TOKEND_WEBHOOK_ALLOW_PRIVATE": "true",
	"TOKEND_WEBHOOK_POLL":          "20ms",
	"TOKEND_WEBHOOK_RETRY_FIRST":   "50ms",
	"TOKEND_WEBHOOK_RETRY_MAX":     "200ms",
	"TOKEND_WEBHOOK_MAX_FAILURES":  "4",
}}

func webhookBody(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "webhook", "attributes": attrs}}
}

// createWebhook registers a webhook for the receiver and gives it the
// secret; it returns the webhook's id.
func (h *harness) createWebhook(r *receiver, events ...string) string {
	h.t.Helper()
	resp := h.do(req{method: http.MethodPost, path: "/webhooks", token: h.AdminToken,
		body: webhookBody(map[string]any{"url": r.srv.URL + "/hook", "events": events, "description": "test"})})
	resp.expectStatus(h.t, http.StatusCreated, "")
	secret, _ := resp.attrs()["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		h.t.Fatalf("secret = %q, want whsec_…", secret)
	}
	r.setSecret(secret)
	return resp.data()["id"].(string)
}

func TestWebhookDeliveriesAreSignedAndCarryTheEvent(t *testing.T) {
	forEachDBWith(t, webhookOptions, func(t *testing.T, h *harness) {
		r := newReceiver(t)
		id := h.createWebhook(r, "*")
		// A change after the webhook exists: its update.
		resp := h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
			body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
				"attributes": map[string]any{"description": "renamed"}}}})
		resp.expectStatus(t, http.StatusOK, "")
		got := r.waitFor("webhook.updated", func(ds []delivery) bool {
			for _, d := range ds {
				if d.Payload["type"] == "webhook.updated" {
					return true
				}
			}
			return false
		})
		for _, d := range got {
			if d.Err != nil {
				t.Fatalf("delivery %s does not verify: %v", d.ID, d.Err)
			}
			data, _ := d.Payload["data"].(map[string]any)
			if data["id"] != d.ID || data["action"] != d.Payload["type"] || d.Payload["timestamp"] != data["occurredAt"] {
				t.Errorf("payload %v does not match webhook-id %s", d.Payload, d.ID)
			}
			if d.Payload["type"] == "webhook.updated" {
				ch, _ := data["changes"].(map[string]any)
				desc, _ := ch["description"].(map[string]any)
				if data["targetId"] != id || data["targetType"] != "webhook" || desc["old"] != "test" || desc["new"] != "renamed" {
					t.Errorf("webhook.updated data = %v", data)
				}
				if strings.Contains(string(mustJSON(t, d.Payload)), "whsec_") {
					t.Error("a delivery carries the secret")
				}
			}
		}
		// The deliveries list shows the attempt.
		a := h.waitDelivery(id, func(d map[string]any) bool { return d["eventType"] == "webhook.updated" && d["status"] != "pending" })
		attempts := a["attempts"].([]any)
		if a["status"] != "succeeded" || len(attempts) != 1 || attempts[0].(map[string]any)["statusCode"] != float64(204) {
			t.Errorf("delivery = %v", a)
		}
	})
}

func TestWebhookRetriesWithBackoffThenSucceeds(t *testing.T) {
	forEachDBWith(t, webhookOptions, func(t *testing.T, h *harness) {
		r := newReceiver(t)
		r.status = func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}
		id := h.createWebhook(r, "webhook.updated")
		h.user(apitoken.RoleMember) // user.created, which the webhook does not receive
		resp := h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
			body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
				"attributes": map[string]any{"description": "retried"}}}})
		resp.expectStatus(t, http.StatusOK, "")
		got := r.waitFor("the retried delivery", func(ds []delivery) bool { return len(ds) >= 1 })
		if got[0].Err != nil || got[0].Payload["type"] != "webhook.updated" {
			t.Fatalf("delivery = %+v", got[0])
		}
		d := h.waitDelivery(id, func(d map[string]any) bool { return d["status"] != "pending" })
		attempts := d["attempts"].([]any)
		if d["status"] != "succeeded" || len(attempts) != 3 {
			t.Fatalf("delivery = %v", d)
		}
		var prev time.Time
		for i, a := range attempts {
			a := a.(map[string]any)
			want := []float64{503, 503, 200}[i]
			if a["statusCode"] != want {
				t.Errorf("attempt %d: status %v, want %v", i+1, a["statusCode"], want)
			}
			at, _ := time.Parse(time.RFC3339, a["attemptedAt"].(string))
			// Retry n waits at least half of 50ms·3ⁿ⁻¹.
			if i > 0 {
				min := []time.Duration{0, 25 * time.Millisecond, 75 * time.Millisecond}[i]
				if gap := at.Sub(prev); gap < min-time.Millisecond {
					t.Errorf("retry %d came %v after the attempt before, before its backoff of %v", i, gap, min)
				}
			}
			prev = at
		}
	})
}

func TestWebhookDisabledAfterConsecutiveFailures(t *testing.T) {
	forEachDBWith(t, webhookOptions, func(t *testing.T, h *harness) {
		r := newReceiver(t)
		r.status = func(int) int { return http.StatusFound } // a redirect is a failure
		id := h.createWebhook(r, "webhook.updated")
		h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
			body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
				"attributes": map[string]any{"description": "fails"}}}}).expectStatus(t, http.StatusOK, "")
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := h.do(req{method: http.MethodGet, path: "/webhooks/" + id, token: h.AdminToken})
			if got.attrs()["enabled"] == false {
				if got.attrs()["consecutiveFailures"] != float64(4) {
					t.Errorf("consecutiveFailures = %v, want 4", got.attrs()["consecutiveFailures"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the webhook was not disabled: %s", got.Body)
			}
			<-time.After(20 * time.Millisecond)
		}
		list := h.do(req{method: http.MethodGet, path: "/webhooks/" + id + "/deliveries", token: h.AdminToken})
		a := list.list()[0]["attributes"].(map[string]any)
		attempts := a["attempts"].([]any)
		if len(attempts) != 4 || !strings.Contains(attempts[0].(map[string]any)["error"].(string), "redirect") {
			t.Errorf("attempts = %v", attempts)
		}
		// The disabling is an audit event.
		var n int64
		h.Store.SQL().QueryRow("SELECT COUNT(*) FROM audit_events WHERE action = 'webhook.disabled' AND target_id = "+
			placeholder(h)+"", id).Scan(&n)
		if n != 1 {
			t.Errorf("webhook.disabled events = %d, want 1", n)
		}
	})
}

// waitDelivery polls the webhook's deliveries until one satisfies cond,
// and returns its attributes; it fails the test after a deadline.
func (h *harness) waitDelivery(id string, cond func(map[string]any) bool) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list := h.do(req{method: http.MethodGet, path: "/webhooks/" + id + "/deliveries", token: h.AdminToken})
		list.expectStatus(h.t, http.StatusOK, "")
		for _, d := range list.list() {
			if a := d["attributes"].(map[string]any); cond(a) {
				return a
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no delivery as expected: %s", list.Body)
		}
		<-time.After(20 * time.Millisecond)
	}
}

func placeholder(h *harness) string {
	if h.Store.Dialect() == "postgres" {
		return "$1"
	}
	return "?"
}

func TestWebhookResources(t *testing.T) {
	forEachDBWith(t, webhookOptions, func(t *testing.T, h *harness) {
		create := h.do(req{method: http.MethodPost, path: "/webhooks", token: h.AdminToken,
			body: webhookBody(map[string]any{"url": "https://hooks.example.com/tokend", "events": []string{"apiToken.revoked", "apiToken.created", "apiToken.revoked"}})})
		create.expectStatus(t, http.StatusCreated, "")
		id := create.data()["id"].(string)
		a := create.attrs()
		if create.Header.Get("Location") != h.URL+"/webhooks/"+id || a["enabled"] != true || a["description"] != "" {
			t.Fatalf("create = %s", create.Body)
		}
		if got := mustJSON(t, a["events"]); string(got) != `["apiToken.created","apiToken.revoked"]` {
			t.Errorf("events = %s, want sorted without repeats", got)
		}
		secret := a["secret"].(string)

		// The secret is stored sealed, and shown only once.
		var sealed []byte
		h.Store.SQL().QueryRow("SELECT sealed_secret FROM webhooks WHERE id = "+placeholder(h), id).Scan(&sealed)
		if len(sealed) == 0 || strings.Contains(string(sealed), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("the secret is not sealed: %q", sealed)
		}
		get := h.do(req{method: http.MethodGet, path: "/webhooks/" + id, token: h.AdminToken})
		get.expectStatus(t, http.StatusOK, "")
		if _, ok := get.attrs()["secret"]; ok || strings.Contains(string(get.Body), secret) {
			t.Errorf("GET shows the secret: %s", get.Body)
		}
		if strings.Contains(h.Logs.String(), strings.TrimPrefix(secret, "whsec_")) {
			t.Error("the logs hold the secret")
		}

		list := h.do(req{method: http.MethodGet, path: "/webhooks", token: h.AdminToken})
		list.expectStatus(t, http.StatusOK, "")
		if items := list.list(); len(items) != 1 || items[0]["id"] != id {
			t.Errorf("list = %s", list.Body)
		}

		patch := h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
			body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
				"attributes": map[string]any{"enabled": false, "events": []string{"*"}}}}})
		patch.expectStatus(t, http.StatusOK, "")
		if patch.attrs()["enabled"] != false || string(mustJSON(t, patch.attrs()["events"])) != `["*"]` {
			t.Errorf("patch = %s", patch.Body)
		}

		del := h.do(req{method: http.MethodDelete, path: "/webhooks/" + id, token: h.AdminToken})
		del.expectStatus(t, http.StatusOK, "")
		h.do(req{method: http.MethodGet, path: "/webhooks/" + id, token: h.AdminToken}).expectStatus(t, http.StatusNotFound, "not_found")
		h.do(req{method: http.MethodDelete, path: "/webhooks/" + id, token: h.AdminToken}).expectStatus(t, http.StatusNotFound, "not_found")
		h.do(req{method: http.MethodGet, path: "/webhooks/" + id + "/deliveries", token: h.AdminToken}).expectStatus(t, http.StatusNotFound, "not_found")

		// Each change is one audit event, in order, with what changed.
		rows, err := h.Store.SQL().Query("SELECT action, changes, actor_user_id FROM audit_events WHERE target_id = "+placeholder(h)+" ORDER BY seq", id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var actions []string
		for rows.Next() {
			var action string
			var changes, actor *string
			rows.Scan(&action, &changes, &actor)
			actions = append(actions, action)
			if actor == nil || *actor != h.AdminID {
				t.Errorf("%s: actor %v, want the admin", action, actor)
			}
			if changes != nil && strings.Contains(*changes, strings.TrimPrefix(secret, "whsec_")) {
				t.Errorf("%s records the secret", action)
			}
		}
		if strings.Join(actions, " ") != "webhook.created webhook.updated webhook.deleted" {
			t.Errorf("events = %v", actions)
		}
	})
}

func TestWebhookRequestsRefused(t *testing.T) {
	h := newHarness(t, options{}) // private addresses refused
	member := h.user(apitoken.RoleMember)
	memberToken, _ := h.mint(member, tokenSpec{scope: "api-tokens"})
	narrowAdmin, _ := h.mint(h.AdminID, tokenSpec{scope: "webhooks"})
	for _, tc := range []struct {
		name   string
		token  string
		attrs  map[string]any
		status int
		code   string
		ptr    string
	}{
		{"a loopback URL is refused", h.AdminToken, map[string]any{"url": "http://127.0.0.1:8080/x", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"a private URL is refused", h.AdminToken, map[string]any{"url": "https://10.1.2.3/x", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"the metadata address is refused", h.AdminToken, map[string]any{"url": "http://169.254.169.254/latest", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"the IPv6 metadata address is refused", h.AdminToken, map[string]any{"url": "http://[fd00:ec2::254]/", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"a CGNAT address is refused", h.AdminToken, map[string]any{"url": "http://100.64.0.1/", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"a name resolving to loopback is refused", h.AdminToken, map[string]any{"url": "http://localhost:9/", "events": []string{"*"}}, 422, "unprocessable_content", "/data/attributes/url"},
		{"a URL that is not http is invalid", h.AdminToken, map[string]any{"url": "ftp://example.com/", "events": []string{"*"}}, 400, "invalid_value", "/data/attributes/url"},
		{"a URL with a password is invalid", h.AdminToken, map[string]any{"url": "https://a:b@example.com/", "events": []string{"*"}}, 400, "invalid_value", "/data/attributes/url"},
		{"events are required", h.AdminToken, map[string]any{"url": "https://example.com/"}, 400, "invalid_value", "/data/attributes/events"},
		{"events must be actions", h.AdminToken, map[string]any{"url": "https://example.com/", "events": []string{"not an action"}}, 400, "invalid_value", "/data/attributes/events/0"},
		{"events must be an array", h.AdminToken, map[string]any{"url": "https://example.com/", "events": "*"}, 400, "invalid_value", "/data/attributes/events"},
		{"the secret cannot be chosen", h.AdminToken, map[string]any{"url": "https://example.com/", "events": []string{"*"}, "secret": "whsec_x"}, 400, "invalid_value", "/data/attributes/secret"},
		{"a member may not create webhooks", memberToken, map[string]any{"url": "https://example.com/", "events": []string{"*"}}, 403, "forbidden", ""},
		{"an admin token without webhooks-write may not", narrowAdmin, map[string]any{"url": "https://example.com/", "events": []string{"*"}}, 403, "forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := h.on(t)
			resp := h.do(req{method: http.MethodPost, path: "/webhooks", token: tc.token, body: webhookBody(tc.attrs)})
			resp.expectStatus(t, tc.status, tc.code)
			if tc.ptr != "" {
				src, _ := resp.errors()[0]["source"].(map[string]any)
				if src["pointer"] != tc.ptr {
					t.Errorf("pointer = %v, want %s", src["pointer"], tc.ptr)
				}
			}
		})
	}
	var n int64
	h.Store.SQL().QueryRow("SELECT COUNT(*) FROM webhooks").Scan(&n)
	if n != 0 {
		t.Errorf("%d webhooks stored by refused requests", n)
	}

	// A change of url is checked as a creation is, and changes nothing.
	created := h.do(req{method: http.MethodPost, path: "/webhooks", token: h.AdminToken,
		body: webhookBody(map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"*"}})})
	created.expectStatus(t, http.StatusCreated, "")
	id := created.data()["id"].(string)
	patch := h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
		body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
			"attributes": map[string]any{"url": "http://[::1]:8080/", "description": "changed"}}}})
	patch.expectStatus(t, http.StatusUnprocessableEntity, "unprocessable_content")
	if got := h.do(req{method: http.MethodGet, path: "/webhooks/" + id, token: h.AdminToken}).attrs(); got["url"] != "https://93.184.216.34/hook" || got["description"] != "" {
		t.Errorf("a refused change changed the webhook: %v", got)
	}
	h.do(req{method: http.MethodGet, path: "/webhooks", token: memberToken}).expectStatus(t, http.StatusForbidden, "forbidden")
	h.do(req{method: http.MethodGet, path: "/webhooks", token: narrowAdmin}).expectStatus(t, http.StatusOK, "")
	h.do(req{method: http.MethodGet, path: "/webhooks/not-an-id", token: narrowAdmin}).expectStatus(t, http.StatusNotFound, "not_found")
}
