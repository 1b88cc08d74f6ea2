package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/outbox"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/internal/webhook"
)

var env = map[string]string{
	"TOKEND_WEBHOOK_ALLOW_PRIVATE": "true",
	"TOKEND_WEBHOOK_POLL":          "20ms",
	"TOKEND_WEBHOOK_RETRY_FIRST":   "50ms",
	"TOKEND_WEBHOOK_RETRY_MAX":     "100ms",
}

// counter is a receiver that counts each webhook-id it accepted and
// verifies every signature with the official library.
type counter struct {
	mu     sync.Mutex
	secret string
	seen   map[string]int
	bad    []error
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret == "" {
		w.WriteHeader(http.StatusServiceUnavailable) // not ready: retried
		return
	}
	wh, err := standardwebhooks.NewWebhook(c.secret)
	if err == nil {
		err = wh.Verify(body, r.Header)
	}
	if err != nil {
		c.bad = append(c.bad, err)
	}
	c.seen[r.Header.Get("webhook-id")]++
	w.WriteHeader(http.StatusOK)
}

func (c *counter) counts() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.seen {
		distinct++
		total += n
	}
	return distinct, total
}

// logBuffer collects the servers' logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// post sends a JSON:API document and decodes the answer.
func post(t *testing.T, method, url, token string, doc any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(doc)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/vnd.api+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

// TestTwoReplicasDeliverEachEventOnce runs two tokend servers on one
// PostgreSQL database, appends events through both at once, and checks
// that the receiver gets every event exactly once, each signed. (SQLite
// serves one replica; its deliveries are tested with one server.)
func TestTwoReplicasDeliverEachEventOnce(t *testing.T) {
	if !slices.Contains(dbtest.Dialects(), "postgres") {
		t.Skip("no PostgreSQL (TOKEND_TEST_DATABASE_URL)")
	}
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.NewURL(t, "postgres")
		logs := &logBuffer{}
		a := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Env: env, Logs: logs})
		b := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Env: env, Replica: true, Logs: logs})
		defer func() {
			if t.Failed() {
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, "WARN") || strings.Contains(l, "webhooks") {
						t.Log(l)
					}
				}
			}
		}()
		c := &counter{seen: map[string]int{}}
		rcv := httptest.NewServer(c)
		defer rcv.Close()

		doc := post(t, http.MethodPost, a.URL+"/webhooks", a.AdminToken, map[string]any{"data": map[string]any{
			"type": "webhook", "attributes": map[string]any{"url": rcv.URL, "events": []string{"apiToken.revoked"}}}})
		c.mu.Lock()
		c.secret = doc["data"].(map[string]any)["attributes"].(map[string]any)["secret"].(string)
		c.mu.Unlock()

		const perReplica, batches = 100, 10
		start := time.Now()
		var wg sync.WaitGroup
		for r, srv := range []*tokendtest.Server{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perReplica / batches {
					var evs []audit.Event
					for j := range batches {
						evs = append(evs, audit.Event{Action: audit.TokenRevoked, TargetType: audit.TargetToken,
							TargetID: fmt.Sprintf("r%d-%d-%d", r, i, j)})
					}
					// An event no webhook subscribes to, between them.
					evs = append(evs, audit.Event{Action: audit.TokenCreated, TargetType: audit.TargetToken, TargetID: "x"})
					if err := srv.Store.AppendEvents(context.Background(), evs...); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()

		want := 2 * perReplica
		deadline := time.Now().Add(30 * time.Second)
		for {
			if d, _ := c.counts(); d >= want {
				break
			}
			if time.Now().After(deadline) {
				d, n := c.counts()
				t.Fatalf("received %d distinct events (%d requests), want %d", d, n, want)
			}
			<-time.After(20 * time.Millisecond)
		}
		// Every delivery is recorded as succeeded once the requests are
		// all answered; then no request can still come.
		for {
			var pending int64
			a.Store.SQL().QueryRow("SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'succeeded'").Scan(&pending)
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d deliveries not recorded as succeeded", pending)
			}
			<-time.After(20 * time.Millisecond)
		}
		t.Logf("%d events appended through two replicas, delivered and recorded in %v", want, time.Since(start).Round(time.Millisecond))
		distinct, total := c.counts()
		if distinct != want || total != want {
			t.Errorf("received %d distinct events in %d requests, want %d once each", distinct, total, want)
		}
		var rows int64
		a.Store.SQL().QueryRow("SELECT COUNT(*) FROM webhook_deliveries").Scan(&rows)
		if rows != int64(want) {
			t.Errorf("%d deliveries in the outbox, want %d", rows, want)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.bad) > 0 {
			t.Errorf("%d deliveries do not verify: %v", len(c.bad), c.bad[0])
		}
	})
}

// TestDeliveryRefusedAtConnectTime stores a webhook whose URL reaches
// loopback, as a name that resolved to a public address when it was saved
// and to loopback now would (DNS rebinding), and checks that the delivery
// never connects: the dialer's guard refuses the address, and the attempt
// records why.
func TestDeliveryRefusedAtConnectTime(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{Env: map[string]string{
		"TOKEND_WEBHOOK_POLL": "20ms", "TOKEND_WEBHOOK_RETRY_FIRST": "50ms"}})
	var hits int
	var mu sync.Mutex
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer rcv.Close()
	d := firstAttempt(t, srv, storeWebhook(t, srv, rcv.URL))
	if a := d.Attempts[0]; a.StatusCode != 0 || !strings.Contains(a.Error, "refused connection") || !strings.Contains(a.Error, "loopback") {
		t.Errorf("attempt = %+v, want refused by the guard", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("the receiver on loopback got %d requests", hits)
	}
}

// TestDeliveryTimesOut gives a receiver that never answers to a webhook:
// the attempt ends at the delivery timeout (TOKEND_WEBHOOK_TIMEOUT), with
// no status and the reason, rather than holding the worker.
func TestDeliveryTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := tokendtest.Start(t, tokendtest.Options{Env: map[string]string{
		"TOKEND_WEBHOOK_ALLOW_PRIVATE": "true", "TOKEND_WEBHOOK_POLL": "20ms",
		"TOKEND_WEBHOOK_TIMEOUT": timeout.String(), "TOKEND_WEBHOOK_RETRY_FIRST": "10s"}})
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer rcv.Close()
	defer close(release)
	d := firstAttempt(t, srv, storeWebhook(t, srv, rcv.URL))
	if a := d.Attempts[0]; a.StatusCode != 0 || a.Error == "" || a.Duration < timeout || a.Duration > outbox.DefaultTimeout/2 {
		t.Errorf("attempt = %+v, want no status, a reason, and a duration of about %s", a, timeout)
	}
	if d.Status != webhook.Pending {
		t.Errorf("the delivery is %s, want pending (to be retried)", d.Status)
	}
}

// storeWebhook stores an enabled webhook of every event to url, with a
// new secret sealed as tokend seals it, and returns its id.
func storeWebhook(t *testing.T, srv *tokendtest.Server, url string) string {
	t.Helper()
	sealer, err := keys.NewSealer(tokendtest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Second)
	w := webhook.Webhook{ID: uuid.Must(uuid.NewV7()).String(), URL: url, Events: []string{"*"}, Enabled: true,
		CreatedAt: now, UpdatedAt: now}
	key, _ := webhook.NewSecret()
	if err := srv.Store.Webhooks.Create(context.Background(), &w, sealer.SealSecret(webhook.SecretLabel(w.ID), key)); err != nil {
		t.Fatal(err)
	}
	return w.ID
}

// firstAttempt waits, up to 20 s, for the webhook's first delivery to
// record an attempt, and returns that delivery.
func firstAttempt(t *testing.T, srv *tokendtest.Server, webhookID string) webhook.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, err := srv.Store.Webhooks.Deliveries(context.Background(), webhookID, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 && len(ds[0].Attempts) > 0 {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		<-time.After(20 * time.Millisecond)
	}
}
