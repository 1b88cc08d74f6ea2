package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// Deadlines and the outage probe.
const (
	// callTimeout bounds every database call that runs outside a
	// transaction, and every transaction: a database that stops
	// answering fails a request within it, and the request answers 503
	// within the 2.5 s SPEC allows.
	callTimeout = 2 * time.Second
	// probeInterval is how often a database known to be down is pinged,
	// and probeTimeout how long one ping may take.
	probeInterval = 250 * time.Millisecond
	probeTimeout  = time.Second
)

// health is what the store knows of its database being up. Once a call
// meets an outage, the database is down: calls fail at once, without
// waiting for it, and a probe pings it until it answers again.
type health struct {
	down    atomic.Bool
	probing atomic.Bool
	// since is when the current outage was noticed, in Unix nanoseconds.
	since atomic.Int64
}

// errDown is the error of a call made while the database is known to be
// down.
var errDown = &apitoken.Error{Code: apitoken.Unavailable, Detail: detailOutage,
	Err: fmt.Errorf("%w: known to be down; a probe is waiting for it", ErrOutage)}

// begin prepares a database call: it fails at once while the database is
// known to be down, and otherwise bounds the call with callTimeout unless
// ctx is already in a transaction, which has its own bound, or has an
// earlier deadline. done releases the bound.
func (s *Store) begin(ctx context.Context) (_ context.Context, done func(), err error) {
	if s.health.down.Load() {
		return ctx, func() {}, errDown
	}
	if ctx.Value(txKey{s}) != nil {
		return ctx, func() {}, nil
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= callTimeout {
		return ctx, func() {}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return ctx, cancel, nil
}

// Down reports whether the database is known to be down.
func (s *Store) Down() bool { return s.health.down.Load() }

// noticeOutage marks the database down and starts the probe that will see
// it back.
func (s *Store) noticeOutage() {
	if s.health.down.CompareAndSwap(false, true) {
		s.health.since.Store(time.Now().UnixNano())
	}
	if !s.health.probing.CompareAndSwap(false, true) {
		return
	}
	go s.probe()
}

// probe pings the database until it answers, then marks it up.
func (s *Store) probe() {
	defer s.health.probing.Store(false)
	sqlDB, err := s.db.DB()
	if err != nil {
		return
	}
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for range t.C {
		if s.closed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := sqlDB.PingContext(ctx)
		cancel()
		if err == nil {
			s.health.down.Store(false)
			return
		}
	}
}
