// Package expiry gives notice of tokens about to expire, and optionally
// revokes tokens left unused: it looks for them periodically, on every
// replica, and each notice is given once whichever replica finds it first
// (the store records the notice and its apiToken.expiring event in one
// transaction, under a key of token and window).
package expiry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokend/tokend/internal/store"
)

// Config holds the notices' settings.
type Config struct {
	// Windows are the times before expiration at which a token gets an
	// apiToken.expiring event, one per window.
	Windows []time.Duration
	// Interval is how often tokens are looked at.
	Interval time.Duration
	// DisableUnusedAfter, when positive, revokes the tokens unused for
	// that long, each with an apiToken.disabled event.
	DisableUnusedAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// batch is how many tokens one transaction handles.
const batch = 200

// Notifier looks for expiring and unused tokens.
type Notifier struct {
	st  *store.Store
	cfg Config
}

// New returns a notifier over the store.
func New(st *store.Store, cfg Config) *Notifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	return &Notifier{st: st, cfg: cfg}
}

// Run checks at once and then every Interval until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		if _, err := n.Check(ctx); err != nil && ctx.Err() == nil {
			n.cfg.Log.Warn("expiry notices", "err", err)
		}
		t := time.NewTimer(n.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Check gives the notices due now and revokes the unused tokens, and
// returns how many tokens it looked at.
func (n *Notifier) Check(ctx context.Context) (int, error) {
	total := 0
	for _, w := range n.cfg.Windows {
		for {
			k, err := n.st.NoticeExpiring(ctx, n.cfg.Now(), w, Label(w), batch)
			total += k
			if err != nil {
				return total, err
			}
			if k < batch {
				break
			}
		}
	}
	if n.cfg.DisableUnusedAfter > 0 {
		for {
			k, err := n.st.DisableUnused(ctx, n.cfg.Now(), n.cfg.DisableUnusedAfter, batch)
			total += k
			if err != nil {
				return total, err
			}
			if k < batch {
				break
			}
		}
	}
	return total, nil
}

// Label writes a window as TOKEND_EXPIRY_NOTICES does: whole days as
// "7d", anything else as Go writes durations ("36h0m0s").
func Label(w time.Duration) string {
	if w%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", w/(24*time.Hour))
	}
	return w.String()
}
