package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/webhook"
)

// Webhooks holds the webhook deliveries' settings.
type Webhooks struct {
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses.
	AllowPrivate bool
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// Backoff schedules the retries of a failed delivery.
	Backoff webhook.Backoff
	// MaxFailures disables a webhook after that many failed attempts in a
	// row; 0 never does.
	MaxFailures int
	// Poll is how often each replica looks for due deliveries.
	Poll time.Duration
}

// Defaults of the webhooks' and the expiry notices' settings.
var (
	DefaultWebhooks = Webhooks{Timeout: 5 * time.Second, Backoff: webhook.DefaultBackoff, MaxFailures: 100, Poll: time.Second}
	// DefaultExpiryNotices are a week and a day before expiration.
	DefaultExpiryNotices = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}
	// DefaultExpiryCheckInterval meets SPEC's "checked at least every
	// 30 s".
	DefaultExpiryCheckInterval = 30 * time.Second
)

func (w *Webhooks) check() error {
	switch {
	case w.Timeout <= 0 || w.Timeout > time.Minute:
		return fmt.Errorf("webhook timeout must be positive and at most 1m, not %v", w.Timeout)
	case w.Backoff.First <= 0 || w.Backoff.First > 10*time.Second:
		return fmt.Errorf("webhook first retry must be positive and at most 10s, not %v", w.Backoff.First)
	case w.Backoff.Max < w.Backoff.First:
		return errors.New("webhook retry max must be at least the first retry's wait")
	case w.Backoff.Retries < 0 || w.Backoff.Retries > 100:
		return fmt.Errorf("webhook retries must be from 0 to 100, not %d", w.Backoff.Retries)
	case w.MaxFailures < 0:
		return errors.New("webhook max failures must not be negative")
	case w.Poll <= 0 || w.Poll > time.Minute:
		return fmt.Errorf("webhook poll must be positive and at most 1m, not %v", w.Poll)
	}
	return nil
}

// parseWindows reads the expiry notice windows: comma-separated durations
// as ParseDuration reads them, or "off" for none. They are returned
// longest first, without repeats.
func parseWindows(s string) ([]time.Duration, error) {
	if s == "off" {
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for part := range strings.SplitSeq(s, ",") {
		d, err := ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("invalid windows %q: want durations such as 7d,1d, or off", s)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return slices.Compact(out), nil
}
