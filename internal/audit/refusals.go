package audit

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// DefaultMaxRefusalKeys bounds the (address, reason) pairs Refusals holds
// between two flushes.
const DefaultMaxRefusalKeys = 10_000

// OverflowAddress stands for the addresses of the refusals counted past
// Refusals' bound, in the one event that counts them all.
const OverflowAddress = "*"

// Refusals counts refused authentications in memory, per source address
// and reason, so that a client failing a thousand times a second costs one
// auth.refused event per flush, not a thousand rows: Flush returns one
// event per pair with how many refusals it had and when the first and the
// last were. It holds at most max pairs; refusals of further pairs until
// the next flush are counted under OverflowAddress and their reason, so
// memory stays bounded whatever a client sends, and no refusal goes
// uncounted. It is safe for concurrent use.
type Refusals struct {
	mu     sync.Mutex
	max    int
	counts map[refusalKey]*refusal
}

type refusalKey struct{ ip, reason string }

type refusal struct {
	n           int64
	first, last time.Time
	userAgent   string
}

// NewRefusals returns a counter of at most max pairs; max <= 0 means
// DefaultMaxRefusalKeys.
func NewRefusals(max int) *Refusals {
	if max <= 0 {
		max = DefaultMaxRefusalKeys
	}
	return &Refusals{max: max, counts: map[refusalKey]*refusal{}}
}

// Add counts a refusal of the address for the reason at at. The user
// agent of the pair's first refusal is kept.
func (r *Refusals) Add(ip, reason, userAgent string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := refusalKey{ip, reason}
	c, ok := r.counts[k]
	if !ok {
		if len(r.counts) >= r.max {
			k = refusalKey{OverflowAddress, reason}
			userAgent = ""
		}
		if c, ok = r.counts[k]; !ok {
			c = &refusal{first: at, userAgent: userAgent}
			r.counts[k] = c
		}
	}
	c.n++
	if at.Before(c.first) {
		c.first = at
	}
	if at.After(c.last) {
		c.last = at
	}
}

// Flush returns one auth.refused event per pair counted since the last
// flush, in the order of their first refusals, and starts counting afresh. Each
// event's target is the reason; its changes hold count, firstAt and lastAt
// (as new values); it occurred at the last refusal.
func (r *Refusals) Flush() []Event {
	r.mu.Lock()
	counts := r.counts
	r.counts = make(map[refusalKey]*refusal, min(len(counts), r.max))
	r.mu.Unlock()
	type pair struct {
		k refusalKey
		c *refusal
	}
	pairs := make([]pair, 0, len(counts))
	for k, c := range counts {
		pairs = append(pairs, pair{k, c})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(a.c.first.Compare(b.c.first), cmp.Compare(a.k.ip, b.k.ip), cmp.Compare(a.k.reason, b.k.reason))
	})
	events := make([]Event, len(pairs))
	for i, p := range pairs {
		ch := Changes{}
		ch.Set("count", nil, p.c.n)
		ch.Set("firstAt", nil, p.c.first.UTC())
		ch.Set("lastAt", nil, p.c.last.UTC())
		events[i] = Event{
			OccurredAt: p.c.last, Action: AuthRefused, TargetType: TargetAuth, TargetID: p.k.reason,
			SourceIP: p.k.ip, UserAgent: p.c.userAgent, Changes: ch,
		}
	}
	return events
}
