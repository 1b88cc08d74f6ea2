package service

import (
	"context"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

// usageLog collects tokens' uses in memory, each token's latest and its
// latest from each of its last few addresses, so that a token used a
// thousand times a second costs one database write per flush, not one per
// request.
type usageLog struct {
	mu      sync.Mutex
	pending map[string]apitoken.Usage
}

// record notes a use. It runs on every authenticated request: a map
// lookup and a look through a few recent clients under a lock, nothing
// more.
func (l *usageLog) record(tokenID string, use apitoken.Use) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = map[string]apitoken.Usage{}
	}
	u := l.pending[tokenID]
	u.Add(use)
	l.pending[tokenID] = u
}

// merge adds uses taken earlier back to the pending ones.
func (l *usageLog) merge(uses map[string]apitoken.Usage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = map[string]apitoken.Usage{}
	}
	for id, other := range uses {
		u, ok := l.pending[id]
		if !ok {
			l.pending[id] = other
			continue
		}
		u.Merge(other)
		l.pending[id] = u
	}
}

func (l *usageLog) take() map[string]apitoken.Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// RecordUse notes a successful use of the principal's token, for its
// lastUsedAt, lastUsedIp and recentClients. Callers record a use once the
// token was found good for the request: authenticated and authorized.
//
// The first successful use of a token that replaced another with
// retirePreviousOnFirstUse retires that one before RecordUse returns, in
// one transaction (see retirePrevious): once the new token has worked, the
// old one no longer does, here at once and on every replica within the
// propagation bound. An error is about that retirement only, which the
// token's next use tries again; the use itself is recorded. The
// retirement is recorded as the principal's change, whatever the request
// (a read, GET /auth, carries no actor of its own).
func (s *Service) RecordUse(ctx context.Context, p *Principal) error {
	s.usage.record(p.Token.ID, apitoken.Use{At: p.at, IP: p.ClientIP, UserAgent: p.UserAgent})
	if !p.Token.RetirePrevious {
		return nil
	}
	return s.retirePrevious(audit.WithActor(ctx, p.Actor()), &p.Token, p.at)
}

// FlushUsage writes the uses recorded since the last flush: each token's
// lastUsedAt, the address it was last used from and its recent clients.
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
