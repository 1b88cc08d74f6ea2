// Package ratelimit keeps token buckets per key (a client address, a user)
// in one replica's memory: golang.org/x/time/rate's buckets, held in a
// bounded otter cache so that a flood of distinct keys cannot grow memory
// without bound. Limits are per replica: N replicas behind a load balancer
// allow up to N times the rate.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// Rule is a rate: Events per Per, with bursts of up to Events. The zero
// Rule allows everything.
type Rule struct {
	Events int
	Per    time.Duration
}

// ParseRule reads a rule written "N/DURATION", such as "100/1m" or
// "10/1s"; "0" or "off" allows everything.
func ParseRule(s string) (Rule, error) {
	if s == "0" || s == "off" {
		return Rule{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	events, err := strconv.Atoi(n)
	if !ok || err != nil || events < 1 {
		return Rule{}, fmt.Errorf("invalid rate %q: want events/duration, such as 100/1m, or off", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rule{}, fmt.Errorf("invalid rate %q: want events/duration, such as 100/1m, or off", s)
	}
	return Rule{Events: events, Per: d}, nil
}

// String writes the rule as ParseRule reads it.
func (r Rule) String() string {
	if r.Events == 0 {
		return "off"
	}
	return strconv.Itoa(r.Events) + "/" + r.Per.String()
}

// maxKeys bounds the keys a Limiter remembers. A key dropped to make room
// starts again with a full bucket.
const maxKeys = 100_000

// Limiter applies one Rule to each key separately: a client address
// (netip.Addr, which keys it without allocating), a user id. It is safe
// for concurrent use.
type Limiter[K comparable] struct {
	rule    Rule
	limit   rate.Limit
	buckets *otter.Cache[K, *rate.Limiter]
}

// New returns a Limiter for the rule.
func New[K comparable](rule Rule) *Limiter[K] {
	l := &Limiter[K]{rule: rule}
	if rule.Events > 0 {
		l.limit = rate.Limit(float64(rule.Events) / rule.Per.Seconds())
		l.buckets = otter.Must(&otter.Options[K, *rate.Limiter]{MaximumSize: maxKeys})
	}
	return l
}

func (l *Limiter[K]) bucket(key K) *rate.Limiter {
	if b, ok := l.buckets.GetIfPresent(key); ok {
		return b
	}
	b, _ := l.buckets.Compute(key, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
		if found {
			return old, otter.CancelOp
		}
		return rate.NewLimiter(l.limit, l.rule.Events), otter.WriteOp
	})
	return b
}

// Take takes one event from key's bucket at now. When the bucket is empty
// it takes nothing and returns how long until an event is allowed.
func (l *Limiter[K]) Take(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.buckets == nil {
		return true, 0
	}
	r := l.bucket(key).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Check reports whether key's bucket holds an event at now, taking
// nothing, and if not how long until it will: for limits on failures,
// checked before the attempt and charged by Take only when it fails.
func (l *Limiter[K]) Check(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.buckets == nil {
		return true, 0
	}
	b, found := l.buckets.GetIfPresent(key)
	if !found {
		return true, 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - tokens) / float64(l.limit) * float64(time.Second)))
}

// RetryAfterSeconds returns d as the whole seconds of a Retry-After
// header: rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
