package verifier

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DefaultMemoSize is how many tokens a Memo remembers when it is given no
// size: about 1 KiB each.
const DefaultMemoSize = 10_000

// memoShards is how many independently locked parts a Memo has, so that
// concurrent requests seldom wait for one another.
const memoShards = 16

// TokenHash returns the SHA-256 of a token string: the key a Memo
// remembers the token under, and the hash tokend stores of each token.
func TokenHash(raw string) [32]byte {
	// Sum256 only reads its input; converting raw to a []byte would copy
	// it to the heap at every call.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

// A Memo remembers the tokens whose signature verified, by the SHA-256 of
// the token string, with their claims, so that a token used again costs a
// hash and a lookup instead of an Ed25519 verification. It is safe for
// concurrent use and holds at most its size of tokens; when full, it
// forgets the tokens least recently used, approximately.
//
// A Memo remembers signatures, never decisions. At every use, a
// remembered token is checked again in full except for the signature:
// the KeySet must still accept the key that signed it (a key retired
// since refuses the token), and the claims are checked at the current
// time against the issuer and the validity period (Claims.Check). Checks
// that depend on the request, such as scopes, revocation and the source
// address, are the caller's at every use, as Verifier.Verify makes them.
// An answer given for one request is therefore never reused for another.
//
// A nil *Memo remembers nothing: its Parse is Parse.
type Memo struct {
	shards []memoShard
}

// The Memo is written by hand rather than taken from a cache library:
// what it needs is small (a bounded set of immutable entries, no
// expiry, lookups that take only a shared lock and allocate nothing), it
// lives in a package that every downstream service imports, whose
// dependencies become theirs, and it is measured by BenchmarkVerifyHot.
// Each shard evicts with the CLOCK algorithm: a lookup sets the entry's
// referenced bit, and the insertion of a new entry into a full shard
// sweeps the entries in insertion order, clearing set bits, and replaces
// the first entry whose bit was clear.
type memoShard struct {
	mu   sync.RWMutex
	m    map[[32]byte]*memoEntry
	ring []*memoEntry // the entries, in the order the hand visits them
	hand int
	_    [64]byte // keep shards on separate cache lines
}

// memoEntry is a token whose signature verified. Every field but
// referenced is immutable once the entry is made.
type memoEntry struct {
	sum          [32]byte
	raw          string
	kid          string
	pub          ed25519.PublicKey
	claims       Claims
	sourceIPs    SourceIPs // parsed from claims.SourceIP
	sourceIPsErr error
	slot         int // the entry's index in its shard's ring
	referenced   atomic.Bool
}

// NewMemo returns a Memo that remembers at most size tokens, or
// DefaultMemoSize when size is 0 or less.
func NewMemo(size int) *Memo {
	if size <= 0 {
		size = DefaultMemoSize
	}
	shards := min(memoShards, size)
	m := &Memo{shards: make([]memoShard, shards)}
	for i := range m.shards {
		capacity := size / shards
		if i < size%shards {
			capacity++
		}
		m.shards[i].m = make(map[[32]byte]*memoEntry, capacity)
		m.shards[i].ring = make([]*memoEntry, 0, capacity)
	}
	return m
}

// Parse is Parse for a token whose SHA-256 is sum, as TokenHash returns
// it: a token the Memo remembers is not verified again, but its key and
// claims are checked as Memo describes; any other token is verified in
// full and, if its signature is good, remembered. A wrong sum costs only
// the memo's help: the token is remembered under its own hash.
//
// The returned Claims are shared by every caller presenting the same
// token and must not be modified. A lookup of a remembered token
// allocates nothing.
func (m *Memo) Parse(raw string, sum [32]byte, keys KeySet, opt Options) (*Claims, error) {
	e, err := m.entry(raw, sum, false, keys)
	if err != nil {
		return nil, err
	}
	if err := e.claims.Check(opt); err != nil {
		return nil, err
	}
	return &e.claims, nil
}

// Len returns how many tokens the Memo remembers.
func (m *Memo) Len() int {
	if m == nil {
		return 0
	}
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// entryFor is entry for a token whose hash is not known yet.
func (m *Memo) entryFor(raw string, keys KeySet) (*memoEntry, error) {
	if m == nil || len(raw) > MaxTokenLength {
		return verifyToken(raw, keys)
	}
	sum := TokenHash(raw)
	return m.entry(raw, sum, true, keys)
}

// entry returns the verified token raw, from the memo if it is there and
// keys still gives the key that verified it, and otherwise by verifying it
// and remembering it. sumChecked says whether sum is known to be raw's.
func (m *Memo) entry(raw string, sum [32]byte, sumChecked bool, keys KeySet) (*memoEntry, error) {
	if m == nil || len(raw) > MaxTokenLength {
		return verifyToken(raw, keys)
	}
	if e := m.shard(sum).get(sum); e != nil && e.raw == raw {
		pub, ok := keys.PublicKey(e.kid)
		if !ok {
			return nil, ErrUnknownKey
		}
		if string(pub) == string(e.pub) {
			return e, nil
		}
		// The key id now names another key: verify again with it.
	}
	e, err := verifyToken(raw, keys)
	if err != nil {
		return nil, err
	}
	e.sum = sum
	if !sumChecked {
		e.sum = TokenHash(raw) // a caller's sum finds a token but does not file one
	}
	return m.shard(e.sum).put(e), nil
}

func (m *Memo) shard(sum [32]byte) *memoShard {
	return &m.shards[binary.LittleEndian.Uint32(sum[:4])%uint32(len(m.shards))]
}

// get returns the entry for sum, or nil.
func (sh *memoShard) get(sum [32]byte) *memoEntry {
	sh.mu.RLock()
	e := sh.m[sum]
	sh.mu.RUnlock()
	if e != nil && !e.referenced.Load() {
		e.referenced.Store(true)
	}
	return e
}

// put remembers e, evicting an entry if the shard is full, and returns
// the entry now remembered for e's token: e, or one another caller put
// first.
func (sh *memoShard) put(e *memoEntry) *memoEntry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[e.sum]; ok {
		if old.raw == e.raw && string(old.pub) == string(e.pub) {
			return old
		}
		e.slot = old.slot
		sh.ring[e.slot] = e
		sh.m[e.sum] = e
		return e
	}
	if len(sh.ring) < cap(sh.ring) {
		e.slot = len(sh.ring)
		sh.ring = append(sh.ring, e)
		sh.m[e.sum] = e
		return e
	}
	// One sweep at most, however lookups set bits meanwhile.
	for i := 0; i < len(sh.ring) && sh.ring[sh.hand].referenced.Load(); i++ {
		sh.ring[sh.hand].referenced.Store(false)
		sh.hand = (sh.hand + 1) % len(sh.ring)
	}
	delete(sh.m, sh.ring[sh.hand].sum)
	e.slot = sh.hand
	sh.ring[sh.hand] = e
	sh.m[e.sum] = e
	sh.hand = (sh.hand + 1) % len(sh.ring)
	return e
}
