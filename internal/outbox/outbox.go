// Package outbox delivers audit events to webhooks from the durable outbox
// package store keeps: it fans new events out into deliveries, claims the
// deliveries that are due, posts each one signed the Standard Webhooks way
// outside any transaction, and records every attempt, retrying failures
// with exponential backoff and jitter.
//
// Delivery is at least once: an attempt is recorded after the endpoint
// answered, so a replica that dies between the two leaves the delivery to
// be tried again when its lease ends, and the endpoint sees it twice, with
// the same webhook-id, which is how it recognises a repeat.
package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/webhook"
)

// Config holds the delivery settings.
type Config struct {
	// Backoff schedules the retries; the zero value is
	// webhook.DefaultBackoff.
	Backoff webhook.Backoff
	// Timeout bounds one attempt, from connecting to the answer's status;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxFailures disables a webhook after that many failed attempts in a
	// row; 0 never does.
	MaxFailures int
	// Lease is how long a claim holds a delivery; 0 means DefaultLease.
	// It must exceed Timeout well.
	Lease time.Duration
	// Poll is how often the outbox is read when nothing wakes it; 0 means
	// DefaultPoll.
	Poll time.Duration
	// Concurrency is how many attempts run at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Guard refuses connections to private addresses; nil refuses them
	// all as a zero Guard does.
	Guard *webhook.Guard
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// Defaults of Config.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultLease       = 30 * time.Second
	DefaultPoll        = time.Second
	DefaultConcurrency = 8
	// fanOutBatch is how many events one fan-out transaction reads.
	fanOutBatch = 500
	// DeliveryRetention is how long finished deliveries (succeeded or
	// failed) and their attempts are kept, for GET
	// /webhooks/:id/deliveries; pruneInterval how often they are pruned.
	DeliveryRetention = 30 * 24 * time.Hour
	pruneInterval     = time.Hour
	pruneBatch        = 1000
	// wakeGather is how long a wake-up waits before the outbox is read,
	// so that the events committed in that moment are fanned out by one
	// transaction, not one each: at thousands of commits a second, a
	// fan-out and a claim for each cost the database as much again as
	// the changes themselves (a tenth of tokend's CPU in the profile of
	// BenchmarkCreateToken, with no webhook at all). At 20 ms the outbox
	// still took 3 % of it; at 100 ms, under 1 %, and a delivery waits
	// at most that much longer.
	wakeGather = 100 * time.Millisecond
	// maxAnswer is how much of an endpoint's answer is read, so that the
	// connection can be reused; the rest is dropped.
	maxAnswer = 64 << 10
)

// Outbox runs the fan-out and the deliveries of one replica. Any number
// of replicas may run one on the same database.
type Outbox struct {
	box    *store.Outbox
	sealer *keys.Sealer
	cfg    Config
	client *http.Client
	wake   chan struct{}
	// pruned is when this replica last pruned finished deliveries.
	pruned time.Time
}

// New returns an outbox over the store's, opening webhook secrets with
// the sealer.
func New(box *store.Outbox, sealer *keys.Sealer, cfg Config) *Outbox {
	if cfg.Backoff == (webhook.Backoff{}) {
		cfg.Backoff = webhook.DefaultBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Guard == nil {
		cfg.Guard = &webhook.Guard{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: cfg.Guard.Control}
	transport := &http.Transport{
		// No proxy: a proxy would connect for tokend, past the guard.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		// A redirect is not followed: it would lead the delivery where
		// the guard did not look, and it counts as a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Outbox{box: box, sealer: sealer, cfg: cfg, client: client, wake: make(chan struct{}, 1)}
}

// Wake makes the outbox look for new events now rather than at its next
// poll; the store calls it when audit events commit.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run fans out and delivers until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	for {
		busy := o.Step(ctx)
		if ctx.Err() != nil {
			return
		}
		if busy {
			continue
		}
		t := time.NewTimer(o.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
			t.Reset(wakeGather)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		case <-t.C:
		}
	}
}

// Step fans out the new events and makes the attempts that are due, and
// reports whether there may be more to do at once.
func (o *Outbox) Step(ctx context.Context) (busy bool) {
	n, err := o.box.FanOut(ctx, fanOutBatch, o.cfg.Now())
	if err != nil && ctx.Err() == nil {
		o.cfg.Log.Warn("webhooks: fan out events", "err", err)
	}
	claims, err := o.box.Claim(ctx, o.cfg.Now(), o.cfg.Lease, o.cfg.Concurrency)
	if err != nil && ctx.Err() == nil {
		o.cfg.Log.Warn("webhooks: claim deliveries", "err", err)
	}
	if now := o.cfg.Now(); now.Sub(o.pruned) >= pruneInterval {
		o.pruned = now
		o.prune(ctx, now.Add(-DeliveryRetention))
	}
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.deliver(ctx, c)
		}()
	}
	wg.Wait()
	return n == fanOutBatch || len(claims) == o.cfg.Concurrency
}

// prune deletes the finished deliveries created before the time, a batch
// at a time.
func (o *Outbox) prune(ctx context.Context, before time.Time) {
	for {
		n, err := o.box.Prune(ctx, before, pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				o.cfg.Log.Warn("webhooks: prune deliveries", "err", err)
			}
			return
		}
		if n < pruneBatch {
			return
		}
	}
}

// deliver makes one attempt of a claimed delivery and records it.
func (o *Outbox) deliver(ctx context.Context, c webhook.Claim) {
	out := store.Outcome{MaxFailures: o.cfg.MaxFailures}
	out.Attempt = o.attempt(ctx, c)
	if ctx.Err() != nil {
		// Stopping: the attempt was cut short by the shutdown, not by the
		// endpoint; the lease gives the delivery back.
		return
	}
	out.Succeeded = out.Attempt.Error == ""
	if !out.Succeeded {
		if wait, ok := o.cfg.Backoff.Wait(c.Attempt); ok {
			out.RetryAt = o.cfg.Now().Add(wait)
		}
	}
	// The record is made even as the server stops, so that a delivery
	// that arrived is not sent again.
	// A record that fails (the database busy or unreachable) is tried
	// again for a while: the delivery would otherwise be sent again once
	// its lease ends.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.Lease)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		_, err := o.box.Record(rctx, c, out)
		if err == nil {
			return
		}
		if rctx.Err() != nil || apitoken.ErrorCode(err) != apitoken.Unavailable {
			o.cfg.Log.Warn("webhooks: record attempt", "delivery", c.DeliveryID, "err", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-rctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// attempt posts the delivery once and says how it went.
func (o *Outbox) attempt(ctx context.Context, c webhook.Claim) webhook.Attempt {
	start := o.cfg.Now()
	a := webhook.Attempt{At: start}
	finish := func(format string, args ...any) webhook.Attempt {
		a.Duration = max(o.cfg.Now().Sub(start), 0)
		if format != "" {
			a.Error = fmt.Sprintf(format, args...)
		}
		return a
	}
	key, err := o.sealer.OpenSecret(webhook.SecretLabel(c.WebhookID), c.SealedSecret)
	if err != nil {
		return finish("the webhook's secret does not open (was TOKEND_SECRET changed?)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return finish("bad request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokend-webhooks")
	webhook.SetHeaders(req.Header, key, c.EventID, start, c.Payload)
	resp, err := o.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a credential
		}
		if errors.Is(err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()) {
			return finish("timed out after %s", o.cfg.Timeout)
		}
		return finish("%v", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	a.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return finish("")
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return finish("redirect (%d) not followed", resp.StatusCode)
	default:
		return finish("the endpoint answered %d", resp.StatusCode)
	}
}
