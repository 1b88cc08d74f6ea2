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
		id := h.createWebhook(r, "user.created", "user.updated")
		h.user(apitoken.RoleMember) // user.created, if the audit log records it; else nothing
		resp := h.do(req{method: http.MethodPatch, path: "/webhooks/" + id, token: h.AdminToken,
			body: map[string]any{"data": map[string]any{"type": "webhook", "id": id,
				"attributes": map[string]any{"events": []string{"webhook.updated"}}}}})
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
		h.Store.SQL().QueryRow("SELECT COUNT(*) FROM audit_events WHERE action = 'webhook.disabled' AND target_id = " +
			placeholder(h) + "", id).Scan(&n)
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
