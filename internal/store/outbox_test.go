package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/webhook"
)

// mustCreateWebhook stores an enabled webhook for the events, created at.
func mustCreateWebhook(tb testing.TB, st *store.Store, at time.Time, events ...string) webhook.Webhook {
	tb.Helper()
	w := webhook.Webhook{ID: newUUID(tb), URL: "https://hooks.example.com/", Events: events, Enabled: true,
		CreatedAt: at, UpdatedAt: at}
	if err := st.Webhooks.Create(context.Background(), &w, []byte("sealed")); err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestOutboxFansOutOnceAndLeasesClaims(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			st := dbtest.MustOpen(t, d)
			now := time.Now()
			// With no webhook, events are skipped, unread.
			if err := st.AppendEvents(ctx, audit.Event{Action: audit.TokenRevoked, TargetType: audit.TargetToken, TargetID: "t0"}); err != nil {
				t.Fatal(err)
			}
			if n, err := st.Outbox.FanOut(ctx, 10, now); n != 0 || err != nil {
				t.Fatalf("fan-out without webhooks = %d, %v", n, err)
			}
			all := mustCreateWebhook(t, st, now.Add(-time.Minute), "*")
			revokes := mustCreateWebhook(t, st, now.Add(-time.Minute), "apiToken.revoked")
			off := mustCreateWebhook(t, st, now.Add(-time.Minute), "*")
			if _, err := st.Webhooks.Update(ctx, off.ID, func(w *webhook.Webhook) error { w.Enabled = false; return nil }); err != nil {
				t.Fatal(err)
			}
			if err := st.AppendEvents(ctx,
				audit.Event{Action: audit.TokenRevoked, TargetType: audit.TargetToken, TargetID: "t1"},
				audit.Event{Action: audit.TokenCreated, TargetType: audit.TargetToken, TargetID: "t2"}); err != nil {
				t.Fatal(err)
			}
			// Everything so far (the webhooks' own events included) once.
			total := 0
			for {
				n, err := st.Outbox.FanOut(ctx, 2, now)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				total += n
			}
			if total != 6 { // 3 created, 1 updated, 2 token events
				t.Errorf("fanned out %d events, want 6", total)
			}
			count := func(hook string) int {
				_, n, err := st.Webhooks.Deliveries(ctx, hook, 100, 0)
				if err != nil {
					t.Fatal(err)
				}
				return int(n)
			}
			// all: the 6 events but the 2 created before it existed... all
			// webhooks were created "a minute ago", so every event counts.
			if got := count(all.ID); got != 6 {
				t.Errorf("the * webhook has %d deliveries, want 6", got)
			}
			if got := count(revokes.ID); got != 1 {
				t.Errorf("the apiToken.revoked webhook has %d deliveries, want 1", got)
			}
			if got := count(off.ID); got != 0 {
				t.Errorf("the disabled webhook has %d deliveries, want 0", got)
			}

			claims, err := st.Outbox.Claim(ctx, now, time.Minute, 100)
			if err != nil || len(claims) != 7 {
				t.Fatalf("claimed %d, %v; want 7", len(claims), err)
			}
			if again, _ := st.Outbox.Claim(ctx, now.Add(59*time.Second), time.Minute, 100); len(again) != 0 {
				t.Errorf("claimed %d deliveries still leased", len(again))
			}
			// The lease ends: another claim takes the deliveries, and the
			// first claimer's late record is dropped.
			retaken, err := st.Outbox.Claim(ctx, now.Add(61*time.Second), time.Minute, 100)
			if err != nil || len(retaken) != 7 {
				t.Fatalf("after the lease, claimed %d, %v; want 7", len(retaken), err)
			}
			ok, err := st.Outbox.Record(ctx, claims[0], store.Outcome{Attempt: webhook.Attempt{At: now, StatusCode: 200}, Succeeded: true})
			if err != nil || ok {
				t.Errorf("a record after the lease ended = %v, %v; want dropped", ok, err)
			}
			for _, c := range retaken {
				ok, err := st.Outbox.Record(ctx, c, store.Outcome{Attempt: webhook.Attempt{At: now, StatusCode: 500, Error: "500"},
					RetryAt: now.Add(2 * time.Minute), MaxFailures: 3})
				if err != nil || !ok {
					t.Fatalf("record = %v, %v", ok, err)
				}
			}
			// Not due before its retry; the * webhook failed 6 times in a
			// row and is disabled (max 3), so only the other one's comes.
			if due, _ := st.Outbox.Claim(ctx, now.Add(119*time.Second), time.Minute, 100); len(due) != 0 {
				t.Errorf("%d deliveries due before their retry", len(due))
			}
			due, _ := st.Outbox.Claim(ctx, now.Add(121*time.Second), time.Minute, 100)
			if len(due) != 1 || due[0].WebhookID != revokes.ID || due[0].Attempt != 2 {
				t.Errorf("due after the retry time: %+v", due)
			}
			w, _ := st.Webhooks.Get(ctx, all.ID)
			if w.Enabled || w.Failures != 6 {
				t.Errorf("the failing webhook: enabled %v, failures %d", w.Enabled, w.Failures)
			}

			// Pruning deletes finished deliveries only.
			if ok, err := st.Outbox.Record(ctx, due[0], store.Outcome{Attempt: webhook.Attempt{At: now, StatusCode: 204}, Succeeded: true}); !ok || err != nil {
				t.Fatalf("record = %v, %v", ok, err)
			}
			if n, err := st.Outbox.Prune(ctx, now.Add(-time.Hour), 100); n != 0 || err != nil {
				t.Errorf("pruned %d, %v of deliveries newer than the limit", n, err)
			}
			if n, err := st.Outbox.Prune(ctx, now.Add(time.Hour), 100); n != 1 || err != nil {
				t.Errorf("pruned %d, %v; want the one succeeded delivery", n, err)
			}
			if got := count(revokes.ID); got != 0 {
				t.Errorf("%d deliveries left of the pruned webhook", got)
			}
			if got := count(all.ID); got != 6 {
				t.Errorf("pending deliveries were pruned: %d left of 6", got)
			}
		})
	}
}

func newUUID(tb testing.TB) string {
	tb.Helper()
	return uuid.Must(uuid.NewV7()).String()
}
