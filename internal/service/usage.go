package service

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// usageLog collects tokens' latest uses in memory, so that a token used a
// thousand times a second costs one database write per flush, not one per
// request.
type usageLog struct {
	mu      sync.Mutex
	pending map[string]apitoken.Use
}

// record notes a use. It runs on every authenticated request: a map
// lookup under a lock, nothing more.
func (l *usageLog) record(tokenID string, at time.Time, ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keepLatest(tokenID, apitoken.Use{At: at, IP: ip})
}

// merge keeps, for each token, the latest of the pending and the given use.
func (l *usageLog) merge(uses map[string]apitoken.Use) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, u := range uses {
		l.keepLatest(id, u)
	}
}

func (l *usageLog) keepLatest(id string, u apitoken.Use) {
	if l.pending == nil {
		l.pending = map[string]apitoken.Use{}
	}
	if cur, ok := l.pending[id]; !ok || cur.At.Before(u.At) {
		l.pending[id] = u
	}
}

func (l *usageLog) take() map[string]apitoken.Use {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// RecordUse notes a successful use of the principal's token, for its
// lastUsedAt and lastUsedIp. Callers record a use once the token was found
// good for the request: authenticated and authorized.
func (s *Service) RecordUse(p *Principal) {
	s.usage.record(p.Token.ID, p.at, p.ClientIP)
}

// FlushUsage writes the uses recorded since the last flush: each token's
// lastUsedAt and the address it was last used from.
func (s *Service) FlushUsage(ctx context.Context) error {
	uses := s.usage.take()
	if err := s.tokens.RecordUses(ctx, uses); err != nil {
		s.usage.merge(uses) // try again at the next flush
		return err
	}
	return nil
}

// RunUsageFlusher flushes recorded uses every interval until ctx ends, then
// once more, so that a graceful shutdown loses nothing.
func (s *Service) RunUsageFlusher(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil && onError != nil {
				onError(err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.FlushUsage(fctx); err != nil && onError != nil {
				onError(err)
			}
			cancel()
			return
		}
	}
}
