package service

import (
	"context"
	"time"
)

// PurgeTokens deletes the tokens that stopped working, by revocation or
// expiration, whichever came first, more than the configured retention
// ago, and whose exp claim has passed (by more than Leeway, as the
// revocation feed counts it), and returns how many it deleted. With no
// retention configured it deletes nothing.
//
// A revoked token whose exp claim has not passed is kept, whatever the
// retention: the feed lists it until then, and verifiers that sync from
// the feed refuse it only while they hold its revocation. Every token it
// deletes is one that tokend and every verifier refuse by its exp claim
// alone, before looking its state up.
func (s *Service) PurgeTokens(ctx context.Context) (int64, error) {
	if s.retention <= 0 {
		return 0, nil
	}
	now := s.now()
	n, err := s.tokens.Purge(ctx, now.Add(-s.retention), now.Add(-Leeway))
	s.purged.Add(n)
	return n, err
}

// PurgedTokens returns how many tokens PurgeTokens has deleted since the
// service started.
func (s *Service) PurgedTokens() int64 { return s.purged.Load() }

// RunRetention runs PurgeTokens at once, then every interval, until ctx
// ends. onPurge learns of every run that deleted tokens, with their count
// and the run's duration, and onError of every run that failed.
func (s *Service) RunRetention(ctx context.Context, interval time.Duration, onPurge func(n int64, took time.Duration), onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		n, err := s.PurgeTokens(ctx)
		if n > 0 && onPurge != nil {
			onPurge(n, time.Since(start))
		}
		if err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
