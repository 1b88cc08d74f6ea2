package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tokend/tokend/pkg/client"
)

// outcome is what the client knows of a change it asked for.
type outcome int

const (
	none         outcome = iota
	acknowledged         // the server answered 201 or 200
	unknown              // the answer was lost: a network error or a 5xx
)

// entry is one token the load asked to create.
type entry struct {
	user, description string
	id                string // known once the creation is acknowledged
	token             string // the token string, held in memory only
	created, revoked  outcome
}

// ledger records, per token, what the server acknowledged.
type ledger struct {
	mu      sync.Mutex
	entries []*entry
	// wrong counts answers no correct server gives to these requests
	// (a 4xx), with the first few described.
	wrong   int
	samples []string
}

func (l *ledger) add(e *entry) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
}

func (l *ledger) update(fn func()) {
	l.mu.Lock()
	fn()
	l.mu.Unlock()
}

func (l *ledger) refused(what string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrong++
	if len(l.samples) < 5 {
		l.samples = append(l.samples, what+": "+err.Error())
	}
}

// opStats counts the ledger's entries by outcome.
type opStats struct {
	creates, createsUnknown, revokes, revokesUnknown int
}

func (l *ledger) stats() opStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s opStats
	for _, e := range l.entries {
		switch e.created {
		case acknowledged:
			s.creates++
		case unknown:
			s.createsUnknown++
		}
		switch e.revoked {
		case acknowledged:
			s.revokes++
		case unknown:
			s.revokesUnknown++
		}
	}
	return s
}

// load is the clients, one user each, acting with the admin token (as a
// dashboard backend does).
type load struct {
	base   string
	api    *client.Client
	users  []string
	ledger ledger

	mu        sync.Mutex
	successes []time.Time // when each acknowledged change was answered

	cancel context.CancelFunc
}

func newLoad(ctx context.Context, base, adminToken string, clients int) (*load, error) {
	api := client.New(base, adminToken)
	api.HTTP = &http.Client{Timeout: 10 * time.Second}
	l := &load{base: base, api: api}
	run := randomHex(4)
	for i := range clients {
		u, err := api.CreateUser(ctx, client.UserRequest{
			Email: fmt.Sprintf("crash-%s-%d@example.com", run, i), Role: "member",
		})
		if err != nil {
			return nil, fmt.Errorf("create a user: %w", err)
		}
		l.users = append(l.users, u.ID)
	}
	return l, nil
}

// start starts the clients; the channel closes when they all stopped.
func (l *load) start(ctx context.Context) chan struct{} {
	ctx, l.cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, user := range l.users {
		wg.Go(func() { l.client(ctx, i, user) })
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func (l *load) stop(done chan struct{}) {
	l.cancel()
	<-done
}

// client creates tokens for its user and revokes about one in three of
// those whose creation was acknowledged, until ctx ends.
func (l *load) client(ctx context.Context, n int, user string) {
	var live []*entry
	for i := 0; ctx.Err() == nil; i++ {
		ok := false
		if len(live) > 0 && rand.IntN(3) == 0 {
			j := rand.IntN(len(live))
			e := live[j]
			live = slices.Delete(live, j, j+1)
			ok = l.revoke(ctx, e)
		} else {
			e := &entry{user: user, description: fmt.Sprintf("crash client %d token %d", n, i)}
			l.ledger.add(e)
			if ok = l.create(ctx, e); ok {
				live = append(live, e)
			}
		}
		if ok {
			l.mu.Lock()
			l.successes = append(l.successes, time.Now())
			l.mu.Unlock()
		} else {
			// The server is down or failing over: try again soon,
			// without spinning.
			wait(ctx, 20*time.Millisecond)
		}
	}
}

func (l *load) create(ctx context.Context, e *entry) bool {
	tok, err := l.api.CreateToken(ctx, e.user, client.TokenRequest{
		Description: e.description, Scope: "customers", Expiration: time.Now().Add(2 * time.Hour),
	})
	o := l.outcomeOf("create", err)
	l.ledger.update(func() {
		e.created = o
		if o == acknowledged {
			e.id, e.token = tok.ID, tok.Token
		}
	})
	return o == acknowledged
}

func (l *load) revoke(ctx context.Context, e *entry) bool {
	_, err := l.api.RevokeToken(ctx, e.user, e.id)
	o := l.outcomeOf("revoke", err)
	l.ledger.update(func() { e.revoked = o })
	return o == acknowledged
}

// outcomeOf classifies a request's error. A request cut short because the
// load is stopping counts as unknown too: it may have been carried out.
func (l *load) outcomeOf(what string, err error) outcome {
	var refusal *client.Error
	switch {
	case err == nil:
		return acknowledged
	case errors.As(err, &refusal) && refusal.Status < 500:
		l.ledger.refused(what, err)
		return unknown
	default:
		return unknown
	}
}

// longestOutage returns the longest time since start during which no
// change was acknowledged: the downtime a client saw.
func (l *load) longestOutage(start time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := slices.Clone(l.successes)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	prev := start
	for _, t := range times {
		longest = max(longest, t.Sub(prev))
		prev = t
	}
	return longest
}

// successesSince counts the changes acknowledged after t.
func (l *load) successesSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.successes {
		if s.After(t) {
			n++
		}
	}
	return n
}
