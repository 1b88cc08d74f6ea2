// Package replica keeps, in each tokend replica's memory, the state that
// authenticating a token needs (per token: its status, expiration and
// restrictions; per user: whether it is disabled, its role and scopes), so
// that a replica answers forward-auth, introspection and API requests
// without a database round trip, and keeps that state coherent with the
// database.
//
// State is loaded on first use, one read per token, and bounded in size.
// Every change to tokens, users and signing keys takes a number in the
// store's one sequence of changes, in commit order (package store). A
// replica follows that sequence: on PostgreSQL it listens for each change
// on a connection of its own and checks the sequence on it every second; on
// SQLite it polls the sequence. Each change it learns of drops the state of
// what changed, and a change of signing keys reloads the keys, so a revoke
// made anywhere is honoured here within a second. After a disconnection it
// resumes from the last number it applied, so nothing committed meanwhile
// is missed.
//
// A replica that cannot confirm its state (the database unreachable, the
// listener lost) vouches for tokens only while its state is younger than
// Config.MaxAge; after that every authentication is unavailable, never
// refused as if the token were bad.
package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/maypok86/otter/v2"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/store"
)

// Defaults.
const (
	DefaultMaxAge       = 5 * time.Second
	DefaultTokens       = 100_000
	DefaultPoll         = 50 * time.Millisecond
	DefaultListenCheck  = time.Second
	maxChangesPerResync = 10_000
)

// ErrStale is in the chain of the error Credential returns when the state
// could not be confirmed for longer than Config.MaxAge.
var ErrStale = errors.New("replica: state not confirmed")

// Config configures a State.
type Config struct {
	// MaxAge is how long the state may go unconfirmed before the replica
	// stops vouching for tokens. Default: DefaultMaxAge.
	MaxAge time.Duration
	// Tokens bounds the tokens whose state is held; as many users are
	// held at most. Default: DefaultTokens.
	Tokens int
	// Poll is how often an SQLite replica reads the sequence of changes.
	// Default: DefaultPoll.
	Poll time.Duration
	// ListenCheck is how often a PostgreSQL replica checks the sequence on
	// its listening connection, and so how soon it notices the listener is
	// lost. Default: DefaultListenCheck.
	ListenCheck time.Duration
	// Log receives what goes wrong while following changes.
	Log *slog.Logger
}

// Keys is the key ring, reloaded when the signing keys change.
type Keys interface {
	Refresh(ctx context.Context) error
}

// State is a replica's in-memory token and user state. It is safe for
// concurrent use.
type State struct {
	src  *store.Store
	keys Keys
	cfg  Config

	tokens *otter.Cache[uuid.UUID, tokenEntry]
	users  *otter.Cache[uuid.UUID, apitoken.User]

	// mu orders what is cached against what is dropped: an entry read
	// from the database is cached only if no change was applied while it
	// was read (gen unchanged), so a read racing a change never caches
	// the state from before it.
	mu      sync.Mutex
	gen     atomic.Uint64
	applied atomic.Int64 // the latest change number applied
	// confirmed is when the state was last known to hold every change
	// committed by then, in Unix nanoseconds.
	confirmed atomic.Int64
}

// tokenEntry is what the state keeps of a token: 80 bytes, and about 170
// with the cache's own bookkeeping (BenchmarkStateMemory).
type tokenEntry struct {
	user       uuid.UUID
	hash       [32]byte
	expiration int64 // Unix milliseconds
	created    int64 // Unix milliseconds
	revoked    bool
	enabled    bool
	extras     *extras // nil for the most tokens, which need none
}

// extras are what few tokens need: their restrictions, and the token a
// rotation replaced while the new one's first use still has to retire it.
type extras struct {
	sourceIP  string
	resources []apitoken.Resource
	retires   string
}

// New returns the state over the source, with the change sequence read
// now as its starting point. Run must run for the state to stay coherent.
func New(ctx context.Context, src *store.Store, keys Keys, cfg Config) (*State, error) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Tokens <= 0 {
		cfg.Tokens = DefaultTokens
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.ListenCheck <= 0 {
		cfg.ListenCheck = DefaultListenCheck
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &State{
		src: src, keys: keys, cfg: cfg,
		tokens: otter.Must(&otter.Options[uuid.UUID, tokenEntry]{MaximumSize: cfg.Tokens}),
		users:  otter.Must(&otter.Options[uuid.UUID, apitoken.User]{MaximumSize: cfg.Tokens}),
	}
	seq, err := src.ChangeSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.applied.Store(seq)
	s.confirm(time.Now())
	return s, nil
}

// Credential returns the token with the id and its user, from memory when
// it can, from the store otherwise. It is unavailable when the state could
// not be confirmed within Config.MaxAge, and not found for an unknown token.
func (s *State) Credential(ctx context.Context, tokenID string) (apitoken.Token, apitoken.User, error) {
	if err := s.Fresh(); err != nil {
		return apitoken.Token{}, apitoken.User{}, err
	}
	key, err := uuid.Parse(tokenID)
	if err != nil {
		return apitoken.Token{}, apitoken.User{}, apitoken.Errorf(apitoken.NotFound, "API token not found")
	}
	if e, ok := s.tokens.GetIfPresent(key); ok {
		u, err := s.user(ctx, e.user)
		if err != nil {
			return apitoken.Token{}, apitoken.User{}, err
		}
		return e.token(tokenID, u.ID), u, nil
	}
	gen := s.gen.Load()
	t, u, err := s.src.Tokens.Credential(ctx, tokenID)
	if err != nil {
		return t, u, err
	}
	ukey, err := uuid.Parse(u.ID)
	if err != nil {
		return t, u, nil // not an id tokend made: served, not kept
	}
	s.keep(gen, func() {
		s.tokens.Set(key, entryOf(&t, ukey))
		s.users.Set(ukey, u)
	})
	return t, u, nil
}

// user returns the user with the id, from memory when it can.
func (s *State) user(ctx context.Context, id uuid.UUID) (apitoken.User, error) {
	if u, ok := s.users.GetIfPresent(id); ok {
		return u, nil
	}
	gen := s.gen.Load()
	u, err := s.src.Users.Get(ctx, id.String())
	if err != nil {
		return u, err
	}
	s.keep(gen, func() { s.users.Set(id, u) })
	return u, nil
}

// keep runs set, which caches what was read, unless a change was applied
// since gen was read.
func (s *State) keep(gen uint64, set func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() == gen {
		set()
	}
}

// Forget drops the state of tokens and users changed by this replica, at
// once, without waiting to learn of the change from the database.
func (s *State) Forget(tokenIDs, userIDs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	for _, id := range tokenIDs {
		if key, err := uuid.Parse(id); err == nil {
			s.tokens.Invalidate(key)
		}
	}
	for _, id := range userIDs {
		if key, err := uuid.Parse(id); err == nil {
			s.users.Invalidate(key)
		}
	}
}

// Fresh returns nil while the state is confirmed within Config.MaxAge, and
// an unavailable error wrapping ErrStale after.
func (s *State) Fresh() error {
	if age := time.Since(time.Unix(0, s.confirmed.Load())); age > s.cfg.MaxAge {
		return &apitoken.Error{Code: apitoken.Unavailable,
			Detail: "tokend cannot confirm the state of tokens just now; try again shortly.", Err: ErrStale}
	}
	return nil
}

// Applied returns the number of the latest change the state holds.
func (s *State) Applied() int64 { return s.applied.Load() }

// Len returns how many tokens the state holds.
func (s *State) Len() int { return s.tokens.EstimatedSize() }

func (s *State) confirm(at time.Time) {
	for {
		old := s.confirmed.Load()
		if at.UnixNano() <= old || s.confirmed.CompareAndSwap(old, at.UnixNano()) {
			return
		}
	}
}

func entryOf(t *apitoken.Token, user uuid.UUID) tokenEntry {
	e := tokenEntry{
		user: user, expiration: t.Expiration.UnixMilli(), created: t.CreatedAt.UnixMilli(),
		revoked: t.RevokedAt != nil, enabled: t.Enabled,
	}
	copy(e.hash[:], t.Hash)
	if t.SourceIP != "" || len(t.Resources) > 0 || t.RetirePrevious {
		e.extras = &extras{sourceIP: t.SourceIP, resources: t.Resources}
		if t.RetirePrevious {
			e.extras.retires = t.RotatedFrom
		}
	}
	return e
}

// revokedAt stands for the time of a revocation, which the state does not
// keep: authentication needs only that there was one.
var revokedAt = time.Unix(0, 0).UTC()

// token rebuilds the token as authentication needs it: its id, owner,
// hash, expiration, creation, status, restrictions and the retirement its
// first use still owes; not its description, scope, signing key or the
// time of its revocation, which the token's claims and the key ring answer
// for, or which it does not need.
func (e *tokenEntry) token(id, userID string) apitoken.Token {
	t := apitoken.Token{
		ID: id, UserID: userID, Hash: e.hash[:], Enabled: e.enabled,
		Expiration: time.UnixMilli(e.expiration).UTC(),
		CreatedAt:  time.UnixMilli(e.created).UTC(),
	}
	if e.revoked {
		t.RevokedAt = &revokedAt
	}
	if x := e.extras; x != nil {
		t.SourceIP, t.Resources = x.sourceIP, x.resources
		t.RotatedFrom, t.RetirePrevious = x.retires, x.retires != ""
	}
	return t
}
