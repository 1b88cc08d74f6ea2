package verifier

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/pkg/clientip"
	"github.com/tokend/tokend/pkg/paserk"
)

// Errors Verify returns beyond those of Parse.
var (
	// ErrRevoked means tokend revoked the token.
	ErrRevoked = errors.New("token has been revoked")
	// ErrDisabled means tokend disabled the token or its user.
	ErrDisabled = errors.New("token or its user is disabled")
	// ErrSourceIP means the token may not be used from the client's address.
	ErrSourceIP = errors.New("token may not be used from this address")
	// ErrStale means the verifier could not sync revocations from tokend
	// for longer than Config.MaxStaleness, so it cannot tell whether the
	// token was revoked.
	ErrStale = errors.New("revocation state is stale")
)

// ScopeError reports a valid token that lacks required scopes.
type ScopeError struct {
	Required []string
	Missing  []string
}

func (e *ScopeError) Error() string {
	return "token lacks scope " + strings.Join(e.Missing, ", ")
}

// Config configures a Verifier.
type Config struct {
	// Issuer is the iss claim tokens must carry. Default: "tokend".
	Issuer string
	// Keys, when set, are the only keys that verify tokens, by key id: the
	// static mode. Otherwise keys are fetched from TokendURL.
	Keys map[string]ed25519.PublicKey
	// TokendURL is tokend's base URL, such as https://tokens.example.com.
	// The verifier fetches keys from /.well-known/paseto-keys and keeps
	// revocations from /revocations there.
	TokendURL string
	// FeedToken authenticates the revocation feed: a tokend token holding
	// the introspect scope. Without it, revocations are not synced.
	FeedToken string
	// HTTPClient talks to tokend. Default: a client with a 10 s timeout.
	// Its timeout bounds each page of the revocation feed, which the
	// verifier asks gzipped and decompresses itself, whatever the
	// client's transport.
	HTTPClient *http.Client
	// SyncInterval is how often keys and revocations are synced, and so
	// the longest a revocation takes to reach the verifier. Default: 5 s.
	SyncInterval time.Duration
	// MaxStaleness is how old the revocation state may grow while tokend
	// cannot be reached before Verify refuses every token with ErrStale.
	// Default: 30 s.
	MaxStaleness time.Duration
	// AllowStale keeps accepting tokens however old the revocation state
	// is: it trades revocation for availability. Default: false.
	AllowStale bool
	// Leeway tolerates clock skew with tokend. Default: 5 s.
	Leeway time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For the middleware
	// believes when it checks a token's sourceIp.
	TrustedProxies []netip.Prefix
	// Logger receives sync failures. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MemoSize is how many tokens whose signature verified the verifier
	// remembers, so that a token used again is not verified again (see
	// Memo). Default: DefaultMemoSize. A negative size remembers none.
	MemoSize int
}

// keyFetchInterval is the least time between two fetches of tokend's keys
// started by tokens of unknown keys.
const keyFetchInterval = time.Second

// keyFetchTimeout bounds a fetch of tokend's keys started by a token of an
// unknown key.
const keyFetchTimeout = 5 * time.Second

// Verifier checks tokend tokens offline: signatures against tokend's public
// keys, and revocations, disables and shortened expirations against a copy
// of tokend's revocation state that it keeps in sync. Verify never waits
// for tokend: a token signed by a key it does not know is refused at once,
// and makes it fetch tokend's keys in the background.
//
// A Verifier is safe for concurrent use. It remembers signatures, never
// decisions: a token whose signature verified is kept in a Memo, and every
// call still checks the signing key, the issuer, the times, the revocation
// state, the source address and the scopes it is asked for, so an answer
// for one scope set or before a revocation is never reused for another.
type Verifier struct {
	cfg     Config
	base    *url.URL
	proxies *clientip.Resolver
	memo    *Memo

	mu       sync.RWMutex
	keys     map[string]key
	keysETag string
	// keysFetchedAt is when the last fetch of the keys started, by
	// Config.Now.
	keysFetchedAt time.Time
	revocations   revocationSet
	users         map[string]bool // disabled users
	cursor        string
	syncedAt      time.Time

	syncMu sync.Mutex // one sync at a time
	keysMu sync.Mutex // one fetch of the keys at a time
	// keyFetch is the background fetch of the keys under way, if any.
	keyFetch atomic.Pointer[keyFetch]
}

// keyFetch is a background fetch of tokend's keys; done is closed when it
// ends.
type keyFetch struct {
	done chan struct{}
}

type key struct {
	pub    ed25519.PublicKey
	status string
}

// New returns a verifier. With TokendURL set, call Sync (or Run) before
// Verify: until the first sync the verifier knows no keys and no
// revocation state.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "tokend"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 5 * time.Second
	}
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = 30 * time.Second
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		cfg:     cfg,
		proxies: clientip.New(cfg.TrustedProxies),
		keys:    map[string]key{},
		users:   map[string]bool{},

		revocations: newRevocationSet(),
	}
	if cfg.MemoSize >= 0 {
		v.memo = NewMemo(cfg.MemoSize)
	}
	for kid, pub := range cfg.Keys {
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("verifier: key %s is not an Ed25519 public key", kid)
		}
		v.keys[kid] = key{pub: pub, status: "active"}
	}
	if cfg.TokendURL != "" {
		u, err := url.Parse(strings.TrimSuffix(cfg.TokendURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("verifier: TokendURL %q is not an http(s) URL", cfg.TokendURL)
		}
		v.base = u
	} else if len(cfg.Keys) == 0 {
		return nil, errors.New("verifier: set Keys or TokendURL")
	}
	return v, nil
}

// KeysFromPASERK returns keys for Config.Keys from k2.public PASERK strings,
// each under its k2.pid id.
func KeysFromPASERK(list ...string) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	for _, s := range list {
		pub, err := paserk.DecodePublic(s)
		if err != nil {
			return nil, err
		}
		keys[paserk.PublicID(pub)] = pub
	}
	return keys, nil
}

// syncsRevocations reports whether the verifier keeps revocation state.
func (v *Verifier) syncsRevocations() bool {
	return v.base != nil && v.cfg.FeedToken != ""
}

// PublicKey implements KeySet: it returns the key with the id if the key
// may verify tokens. A key id the verifier does not know yet is refused at
// once and starts a background fetch of tokend's keys, so that a token of
// a key created a moment ago is accepted once the fetch is done. Such
// fetches are made one at a time, at most once a second, each within a
// few seconds.
func (v *Verifier) PublicKey(kid string) (ed25519.PublicKey, bool) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	v.mu.RUnlock()
	if !ok {
		if v.base != nil && len(v.cfg.Keys) == 0 && strings.HasPrefix(kid, paserk.PIDPrefix) {
			v.fetchKeysSoon()
		}
		return nil, false
	}
	if k.status != "active" && k.status != "retiring" {
		return nil, false
	}
	return k.pub, true
}

// fetchKeysSoon starts a background fetch of tokend's keys, unless one is
// under way or the last fetch of the keys started less than
// keyFetchInterval ago.
func (v *Verifier) fetchKeysSoon() {
	if v.keyFetch.Load() != nil || v.fetchedRecently() {
		return
	}
	f := &keyFetch{done: make(chan struct{})}
	if !v.keyFetch.CompareAndSwap(nil, f) {
		return
	}
	// Another fetch may have ended between the checks and the swap.
	if v.fetchedRecently() {
		v.keyFetch.Store(nil)
		close(f.done)
		return
	}
	go func() {
		defer close(f.done)
		defer v.keyFetch.Store(nil)
		ctx, cancel := context.WithTimeout(context.Background(), keyFetchTimeout)
		defer cancel()
		if err := v.syncKeys(ctx); err != nil {
			v.cfg.Logger.Warn("tokend verifier: fetch keys for an unknown key id", "err", err)
		}
	}()
}

func (v *Verifier) fetchedRecently() bool {
	v.mu.RLock()
	last := v.keysFetchedAt
	v.mu.RUnlock()
	return !last.IsZero() && v.cfg.Now().Sub(last) < keyFetchInterval
}

// Verify checks a token for a request from clientIP that needs the given
// scopes: signature, signing key, issuer, validity period, revocation
// state, sourceIp and scopes. clientIP may be the zero Addr when unknown,
// in which case a token restricted by sourceIp is refused.
//
// A token seen before is not verified again (see Memo); everything else is
// checked at every call. While the revocation state is older than
// Config.MaxStaleness, every token is refused with ErrStale. The returned
// Claims are shared by every call for the same token and must not be
// modified.
func (v *Verifier) Verify(raw string, clientIP netip.Addr, required ...string) (*Claims, error) {
	now := v.cfg.Now()
	e, err := v.memo.entryFor(raw, v)
	if err == nil {
		err = e.claims.Check(Options{Issuer: v.cfg.Issuer, Now: now, Leeway: v.cfg.Leeway})
	}
	if err != nil {
		if v.stale(now) {
			return nil, ErrStale // whatever the token, as before the first sync
		}
		return nil, err
	}
	c := &e.claims
	if v.syncsRevocations() {
		v.mu.RLock()
		r, _ := v.revocations.lookup(c.ID)
		userDisabled := v.users[c.Subject]
		age := now.Sub(v.syncedAt)
		v.mu.RUnlock()
		switch {
		case age > v.cfg.MaxStaleness && !v.cfg.AllowStale:
			return nil, ErrStale
		case r.flags&flagRevoked != 0:
			return nil, ErrRevoked
		case r.flags&flagDisabled != 0, userDisabled:
			return nil, ErrDisabled
		case r.flags&flagShortened != 0 && now.Unix() >= int64(r.expires):
			return nil, ErrExpired
		}
	}
	if c.SourceIP != "" {
		if e.sourceIPsErr != nil || !clientIP.IsValid() || !e.sourceIPs.Contains(clientIP) {
			return nil, ErrSourceIP
		}
	}
	for _, r := range required {
		if !hasScope(c.Scope, r) {
			return nil, &ScopeError{Required: slices.Clone(required), Missing: MissingScopes(c.Scope, required)}
		}
	}
	return c, nil
}

// stale reports whether Verify refuses every token with ErrStale at now.
func (v *Verifier) stale(now time.Time) bool {
	if !v.syncsRevocations() || v.cfg.AllowStale {
		return false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return now.Sub(v.syncedAt) > v.cfg.MaxStaleness
}

// SyncedAt returns when the revocation state was last brought up to date.
func (v *Verifier) SyncedAt() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.syncedAt
}

// Run syncs every SyncInterval until ctx ends. Failures are logged and
// retried at the next interval; Verify refuses tokens with ErrStale once the
// state is older than MaxStaleness.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.cfg.SyncInterval)
	defer t.Stop()
	for {
		if err := v.Sync(ctx); err != nil && ctx.Err() == nil {
			v.cfg.Logger.Warn("tokend verifier: sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync brings keys and revocation state up to date now.
func (v *Verifier) Sync(ctx context.Context) error {
	if v.base == nil {
		return nil
	}
	v.syncMu.Lock()
	defer v.syncMu.Unlock()
	// The two syncs are independent: a failure to fetch keys must not let
	// the revocation state grow stale, nor the other way round.
	var keysErr error
	if len(v.cfg.Keys) == 0 {
		keysErr = v.syncKeys(ctx)
	}
	if !v.syncsRevocations() {
		return keysErr
	}
	return errors.Join(keysErr, v.syncRevocations(ctx))
}

// syncKeys fetches tokend's public keys, unless they did not change. Every
// key's id is recomputed from the key itself: a key listed under another
// key's id is refused.
func (v *Verifier) syncKeys(ctx context.Context) error {
	var set struct {
		Issuer string `json:"issuer"`
		Keys   []struct {
			KID    string `json:"kid"`
			PASERK string `json:"paserk"`
			Status string `json:"status"`
		} `json:"keys"`
	}
	v.keysMu.Lock()
	defer v.keysMu.Unlock()
	v.mu.Lock()
	etag := v.keysETag
	v.keysFetchedAt = v.cfg.Now()
	v.mu.Unlock()
	newTag, err := v.get(ctx, "/.well-known/paseto-keys", nil, "", etag, &set)
	if errors.Is(err, errNotModified) {
		return nil
	}
	if err != nil {
		return err
	}
	if set.Issuer != v.cfg.Issuer {
		return fmt.Errorf("tokend at %s issues as %q, not %q", v.base, set.Issuer, v.cfg.Issuer)
	}
	keys := map[string]key{}
	for _, k := range set.Keys {
		pub, err := paserk.DecodePublic(k.PASERK)
		if err != nil || paserk.PublicID(pub) != k.KID {
			return fmt.Errorf("tokend key %q does not match its PASERK", k.KID)
		}
		keys[k.KID] = key{pub: pub, status: k.Status}
	}
	v.mu.Lock()
	v.keys, v.keysETag = keys, newTag
	v.mu.Unlock()
	return nil
}

// errNotModified is get's answer when the document still has the ETag.
var errNotModified = errors.New("not modified")

// get fetches a JSON document from tokend into dst and returns its ETag.
// With etag set, a 304 answer leaves dst alone and returns errNotModified.
func (v *Verifier) get(ctx context.Context, path string, q url.Values, bearer, etag string, dst any) (string, error) {
	u := *v.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("tokend %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return etag, errNotModified
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", fmt.Errorf("tokend %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(dst); err != nil {
		return "", fmt.Errorf("tokend %s: %w", path, err)
	}
	return resp.Header.Get("ETag"), nil
}
