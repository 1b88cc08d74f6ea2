package webhook

import (
	"math/rand/v2"
	"time"
)

// Backoff is the schedule of a delivery's retries: the n-th retry (n from
// 1) waits First·Factorⁿ⁻¹, at most Max, each wait drawn at random in
// [wait/2, wait] (half jitter) so that deliveries failing together do not
// retry together. A delivery is given up after Retries retries.
type Backoff struct {
	First   time.Duration
	Factor  float64
	Max     time.Duration
	Retries int
}

// DefaultBackoff retries within 5 s first, then after 5 s·3ⁿ⁻¹, at most
// 6 hours apart: 11 retries spread over at most 22.6 hours, after which a
// delivery has failed.
var DefaultBackoff = Backoff{First: 5 * time.Second, Factor: 3, Max: 6 * time.Hour, Retries: 11}

// Wait returns the wait before retry n (n ≥ 1), with its jitter, and
// false if there is no retry n.
func (b Backoff) Wait(n int) (time.Duration, bool) {
	if n < 1 || n > b.Retries {
		return 0, false
	}
	w := b.Nominal(n)
	half := w / 2
	if half <= 0 {
		return w, true
	}
	return half + rand.N(w-half+1), true
}

// Nominal returns the wait before retry n without jitter: its longest.
func (b Backoff) Nominal(n int) time.Duration {
	w := float64(b.First)
	for i := 1; i < n; i++ {
		w *= b.Factor
		if w >= float64(b.Max) {
			return b.Max
		}
	}
	return min(time.Duration(w), b.Max)
}

// Total returns the longest time from the first attempt to the last.
func (b Backoff) Total() time.Duration {
	var t time.Duration
	for n := 1; n <= b.Retries; n++ {
		t += b.Nominal(n)
	}
	return t
}
