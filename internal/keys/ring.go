package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// refreshInterval bounds how often lookups of unknown key ids reload the
// keys from the store, so that tokens naming random key ids cannot turn into
// a flood of queries; refreshTimeout bounds one reload.
const (
	refreshInterval = time.Second
	refreshTimeout  = 2 * time.Second
)

// Ring signs tokens with the active key and serves the public keys that
// verify them. It caches keys in memory; the store stays the source of truth.
type Ring struct {
	store  Store
	sealer *Sealer
	now    func() time.Time

	mu   sync.RWMutex
	keys map[string]*entry
	// loadedAt is when the last reload from the store started, on the
	// monotonic clock.
	loadedAt time.Time
	// started numbers reloads as they start; installed is the number of
	// the one whose keys the ring holds. A reload that started before the
	// installed one read older keys, and is dropped.
	started, installed uint64

	refreshing atomic.Bool // a background reload is pending or running

	// signer is the active key as last read from the store, for at most
	// signerTTL; nil after anything that may change which key is active.
	signer atomic.Pointer[signerEntry]
}

// signerEntry is the active key and when the store said so, on the
// monotonic clock.
type signerEntry struct {
	e  *entry
	sk paseto.V2AsymmetricSecretKey // e's private half, checked once
	at time.Time
}

// signerTTL is how long the ring signs with the key it last read as active
// before it reads the store again. A key rotated on another replica may
// sign here that long after its rotation (less once the replica's state
// follows the change and refreshes the ring), so Rotate keeps the retiring
// key verifying signerTTL longer than the longest lifetime of a token.
const signerTTL = time.Second

type entry struct {
	rec  Record
	priv ed25519.PrivateKey // nil until the key has signed on this replica
}

// NewRing returns a ring over the store. now is the clock; nil means
// time.Now.
func NewRing(store Store, sealer *Sealer, now func() time.Time) *Ring {
	if now == nil {
		now = time.Now
	}
	return &Ring{store: store, sealer: sealer, now: now, keys: map[string]*entry{}}
}

// Load reads the keys, creates the first key if there is none, and checks
// that the active key opens with the secret, so that a wrong TOKEND_SECRET
// stops tokend at start rather than at the first token.
func (r *Ring) Load(ctx context.Context) error {
	if err := r.refresh(ctx); err != nil {
		return err
	}
	_, err := r.active(ctx)
	return err
}

// Sign returns the token for the claims, signed by the active key, and the
// key's id. Times are written in whole seconds, in UTC.
func (r *Ring) Sign(ctx context.Context, c verifier.Claims) (token, kid string, err error) {
	signer, err := r.active(ctx)
	if err != nil {
		return "", "", err
	}
	e := signer.e
	c.IssuedAt = c.IssuedAt.UTC().Truncate(time.Second)
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Second)
	c.Expiration = c.Expiration.UTC().Truncate(time.Second)
	claims, err := json.Marshal(c)
	if err != nil {
		return "", "", fmt.Errorf("keys: encode claims: %w", err)
	}
	footer, err := json.Marshal(verifier.Footer{KeyID: e.rec.ID})
	if err != nil {
		return "", "", fmt.Errorf("keys: encode footer: %w", err)
	}
	tok, err := paseto.NewTokenFromClaimsJSON(claims, footer)
	if err != nil {
		return "", "", fmt.Errorf("keys: build token: %w", err)
	}
	return tok.V2Sign(signer.sk), e.rec.ID, nil
}

// PublicKey returns the public key with the id if it may verify tokens now.
// It implements verifier.KeySet. An unknown id is refused at once, and
// reloads the keys in the background, so that a key created by another
// replica or the command line is found by the requests that follow.
func (r *Ring) PublicKey(kid string) (ed25519.PublicKey, bool) {
	e, ok := r.lookup(kid)
	if !ok {
		if looksLikeKeyID(kid) {
			r.refreshSoon()
		}
		return nil, false
	}
	if !e.rec.Verifies(r.now()) {
		return nil, false
	}
	return e.rec.PublicKey, true
}

func (r *Ring) lookup(kid string) (*entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.keys[kid]
	return e, ok
}

// refreshSoon reloads the keys in the background. Reloads for unknown key
// ids run one at a time and at most once per refreshInterval, so tokens
// naming made-up key ids cost at most one query a second, and the request
// that names one never waits for it.
func (r *Ring) refreshSoon() {
	if !r.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.refreshing.Store(false)
		r.mu.RLock()
		last := r.loadedAt
		r.mu.RUnlock()
		if wait := refreshInterval - time.Since(last); wait > 0 {
			time.Sleep(min(wait, refreshInterval))
		}
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		r.refresh(ctx) // a failure counts as a reload too; the next unknown id tries again
	}()
}

func looksLikeKeyID(kid string) bool {
	return len(kid) == len(paserk.PIDPrefix)+44 && strings.HasPrefix(kid, paserk.PIDPrefix)
}

// Refresh reloads every key from the store now, so that keys created,
// rotated or retired elsewhere (another replica, the command line) take
// effect here.
func (r *Ring) Refresh(ctx context.Context) error { return r.refresh(ctx) }

// List returns every key, oldest first, as the store holds them now.
func (r *Ring) List(ctx context.Context) ([]Record, error) {
	return r.store.ListKeys(ctx)
}

// Records returns every key, oldest first, as the ring last loaded them:
// from memory, whether or not the store can be reached.
func (r *Ring) Records() []Record {
	r.mu.RLock()
	recs := make([]Record, 0, len(r.keys))
	for _, e := range r.keys {
		recs = append(recs, e.rec)
	}
	r.mu.RUnlock()
	slices.SortFunc(recs, func(a, b Record) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return recs
}

// Rotate creates a new active key. The previous active key keeps verifying
// until every token it signed has expired: until minLifetime from now at the
// earliest, the longest lifetime a token may have.
func (r *Ring) Rotate(ctx context.Context, minLifetime time.Duration) (Record, error) {
	now := r.now()
	next := r.generate(now)
	r.signer.Store(nil)
	err := r.store.RotateKey(ctx, next.rec, now, now.Add(minLifetime+signerTTL))
	if apitoken.ErrorCode(err) == apitoken.NotFound {
		err = r.store.InsertActiveKey(ctx, next.rec)
	}
	if err != nil {
		return Record{}, err
	}
	r.remember(next)
	return next.rec, r.refresh(ctx)
}

// Retire stops a key from verifying anything, at once on this replica and
// on every other replica's next check of the store. The active key cannot be
// retired: rotate first.
func (r *Ring) Retire(ctx context.Context, kid string) error {
	if err := r.store.RetireKey(ctx, kid, r.now()); err != nil {
		return err
	}
	return r.refresh(ctx)
}

// active returns the active key with its private half, creating the first
// key if the store has none.
func (r *Ring) active(ctx context.Context) (*signerEntry, error) {
	if c := r.signer.Load(); c != nil && time.Since(c.at) < signerTTL {
		return c, nil
	}
	read := time.Now()
	e, err := r.readActive(ctx)
	if err != nil {
		return nil, err
	}
	// Making the PASETO key checks the pair, which costs about a
	// signature: once per key read, not per token.
	sk, err := paseto.NewV2AsymmetricSecretKeyFromEd25519(e.priv)
	if err != nil {
		return nil, fmt.Errorf("keys: load signing key: %w", err)
	}
	c := &signerEntry{e: e, sk: sk, at: read}
	r.signer.Store(c)
	return c, nil
}

// readActive reads the active key from the store, creating the first key
// if the store has none, and opens its private half.
func (r *Ring) readActive(ctx context.Context) (*entry, error) {
	rec, err := r.store.ActiveKey(ctx)
	if apitoken.ErrorCode(err) == apitoken.NotFound {
		created := r.generate(r.now())
		err = r.store.InsertActiveKey(ctx, created.rec)
		switch apitoken.ErrorCode(err) {
		case "":
			rec = created.rec
			r.remember(created)
		case apitoken.Conflict: // another replica created it first
			rec, err = r.store.ActiveKey(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	e, ok := r.keys[rec.ID]
	r.mu.RUnlock()
	if ok && e.priv != nil && e.rec.Status == Active {
		return e, nil
	}
	priv, err := r.sealer.Open(rec.ID, rec.SealedKey)
	if err != nil {
		return nil, err
	}
	e = &entry{rec: rec, priv: priv}
	r.remember(e)
	return e, nil
}

func (r *Ring) remember(e *entry) {
	r.mu.Lock()
	r.keys[e.rec.ID] = e
	r.mu.Unlock()
}

func (r *Ring) generate(now time.Time) *entry {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	kid := paserk.PublicID(pub)
	rec := Record{
		ID:        kid,
		PublicKey: pub,
		SealedKey: r.sealer.Seal(kid, priv.Seed()),
		Status:    Active,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
	return &entry{rec: rec, priv: priv}
}

// refresh reloads every key from the store, keeping the private keys already
// opened.
func (r *Ring) refresh(ctx context.Context) error {
	r.signer.Store(nil)
	started := time.Now()
	r.mu.Lock()
	r.started++
	n := r.started
	r.mu.Unlock()
	recs, err := r.store.ListKeys(ctx)
	if err != nil {
		// A failed reload counts too: lookups of unknown ids must not
		// queue up behind one another while the database is down.
		r.mu.Lock()
		r.loadedAt = started
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < r.installed {
		return nil // a reload that started later holds newer keys
	}
	r.installed = n
	keys := make(map[string]*entry, len(recs))
	for _, rec := range recs {
		e := &entry{rec: rec}
		if old, ok := r.keys[rec.ID]; ok && rec.Status == Active {
			e.priv = old.priv
		}
		keys[rec.ID] = e
	}
	r.keys = keys
	r.loadedAt = started
	return nil
}
