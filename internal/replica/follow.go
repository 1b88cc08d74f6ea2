package replica

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/store"
)

// Run follows the sequence of changes until ctx ends: by listening on
// PostgreSQL, by polling on SQLite. Failures are logged and retried; while
// they last the state ages, and Fresh says when it is too old.
func (s *State) Run(ctx context.Context) {
	l, err := s.src.Listen(ctx)
	if errors.Is(err, store.ErrNoListen) {
		s.poll(ctx)
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err == nil {
			s.listen(ctx, l)
			l.Close()
			backoff = 100 * time.Millisecond
		} else if ctx.Err() == nil {
			s.cfg.Log.Warn("replica: listen for changes", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ListenCheck)
		l, err = s.src.Listen(cctx)
		cancel()
	}
}

// listen follows changes on l until ctx ends or l breaks: at every
// notification, and every ListenCheck at the latest, it reads the sequence
// on l, which proves l still listens, and catches up.
func (s *State) listen(ctx context.Context, l *store.Listener) {
	for {
		// A change first catches up from the last change applied,
		// whatever the listener may have missed before it connected.
		checked := time.Now()
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ListenCheck)
		seq, err := l.Seq(cctx)
		if err == nil && seq > s.applied.Load() {
			err = s.catchUp(cctx)
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("replica: follow changes", "err", err)
			}
			return
		}
		s.confirm(checked)

		wctx, cancel := context.WithTimeout(ctx, s.cfg.ListenCheck)
		err = l.Wait(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			s.cfg.Log.Warn("replica: listen for changes", "err", err)
			return
		}
	}
}

// poll follows changes by reading the sequence every Poll.
func (s *State) poll(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		checked := time.Now()
		cctx, cancel := context.WithTimeout(ctx, s.cfg.MaxAge)
		err := s.catchUp(cctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("replica: follow changes", "err", err)
			}
			continue
		}
		s.confirm(checked)
	}
}

// catchUp applies every change after the last one applied.
func (s *State) catchUp(ctx context.Context) error {
	from := s.applied.Load()
	ch, err := s.src.ChangesSince(ctx, from, maxChangesPerResync)
	if err != nil || ch.Seq <= from {
		return err
	}
	if ch.Keys {
		if err := s.keys.Refresh(ctx); err != nil {
			return err
		}
	}
	s.apply(ch)
	return nil
}

// apply drops the state of what changed and records how far the state goes.
func (s *State) apply(ch store.Changes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	if ch.Truncated {
		// More changed than is worth dropping one by one.
		s.tokens.InvalidateAll()
		s.users.InvalidateAll()
	} else {
		for _, id := range ch.Tokens {
			if key, err := uuid.Parse(id); err == nil {
				s.tokens.Invalidate(key)
			}
		}
		for _, id := range ch.Users {
			if key, err := uuid.Parse(id); err == nil {
				s.users.Invalidate(key)
			}
		}
	}
	s.applied.Store(ch.Seq)
}
