package verifier

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// tokenID is a token id in the 16 bytes of the UUID it spells.
type tokenID [16]byte

// compare orders ids as their bytes.
func (a tokenID) compare(b tokenID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}

// String returns the id as a UUID in canonical form.
func (a tokenID) String() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range a {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(b[:])
}

// parseTokenID returns the id's bytes if it is a UUID in canonical form
// (lower-case hexadecimal digits, hyphens at 8, 13, 18 and 23), as every
// tokend id is. Any other spelling is not parsed, so that two spellings
// of one UUID never share an entry.
func parseTokenID(s string) (tokenID, bool) {
	var id tokenID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		id[j] = hi<<4 | lo
		j++
	}
	return id, true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Flags of a revocation: what refuses the token.
const (
	flagRevoked   = 1
	flagDisabled  = 2
	flagShortened = 4 // refused from expires on
)

// revocation is what the verifier keeps of a token whose state refuses
// it, or will: 28 bytes. Times are whole Unix seconds, good until 2106.
type revocation struct {
	id tokenID
	// until is the later of the token's exp claim and expiration, rounded
	// up: past it, and the leeway, the token's claims refuse it anyway,
	// and the entry is dropped.
	until uint32
	// expires is when the token stops working now, rounded down.
	expires uint32
	flags   uint8
}

// newRevocation returns the entry of a token's state, from its times in
// Unix milliseconds. An entry whose flags are zero refuses nothing: it
// stands for a token tokend knows to be as good as its claims say.
func newRevocation(revoked, enabled bool, expiration, exp int64) revocation {
	var r revocation
	if revoked {
		r.flags |= flagRevoked
	}
	if !enabled {
		r.flags |= flagDisabled
	}
	if expiration < exp {
		r.flags |= flagShortened
	}
	r.until = unixSeconds(max(expiration, exp) + 999)
	r.expires = unixSeconds(expiration)
	return r
}

// unixSeconds returns a time in Unix milliseconds as whole seconds,
// rounded down, within uint32.
func unixSeconds(ms int64) uint32 {
	return uint32(min(max(ms/1000, 0), math.MaxUint32))
}

// revocationSet is the verifier's copy of tokend's revocation state, the
// tokens tokend revoked, disabled or shortened whose claims have not
// expired, laid out to hold millions: about 37 bytes a token, 28 of them
// in the array (a map of string ids to states took about 216).
//
// Most entries are in sorted, an array sorted by id, found through index
// or by binary search, and never changed in place: a merge replaces it
// with a new array, so the sync can build that array while Verify keeps
// reading the old one. Changes since the last merge are in recent, a map
// that shadows sorted; an entry of recent that refuses nothing hides the
// entry of sorted until the merge drops both. A merge happens when recent
// grows to an eighth of sorted (so that the map never holds much), at the
// end of a snapshot, and, to drop the entries of tokens that have expired,
// at the end of a sync once such an entry exists and compactEvery has
// passed since the last merge: each merge costs one pass over the array,
// so at most one a minute is spent on expired tokens. Ids that are not
// canonical UUIDs, which tokend never makes, are kept in other.
//
// A grouping by expiration, or a parallel array of expirations, was
// weighed: the grouping drops expired entries for free but makes a lookup
// search every group, and a parallel array saves nothing over an entry
// that holds its times. A Go map keyed by [16]byte would cost 40 to 66
// bytes an entry (a slot of 28 bytes and its control byte, at a load
// factor between 7/16 and 7/8), the array and its index 33 to 39.
//
// The sync goroutine is its only writer: it changes recent and other, and
// swaps sorted and index, under the verifier's write lock, and reads them
// without it. Verify reads under the read lock.
type revocationSet struct {
	sorted []revocation
	// index, when set, is a hash table of sorted's positions, plus one,
	// by id: a lookup by binary search among a million entries cost about
	// 1.1 µs, most of it cache misses, and by the index about half that
	// (BenchmarkRevocationLookup). It costs 5 to 11 bytes an entry, and is
	// built at the end of a round: a merge in the middle of one leaves
	// lookups to the binary search until then.
	index []uint32
	// shift turns an id's hash into an index slot.
	shift  uint
	recent map[tokenID]revocation
	other  map[string]revocation
	// minUntil is the earliest until among the entries; mergedAt is when
	// the last merge was, by the verifier's clock.
	minUntil uint32
	mergedAt time.Time
}

// compactEvery is the least time between two merges made only to drop the
// entries of expired tokens.
const compactEvery = time.Minute

func newRevocationSet() revocationSet {
	return revocationSet{recent: map[tokenID]revocation{}, other: map[string]revocation{}, minUntil: math.MaxUint32}
}

// lookup returns the entry of the token with the id, if the set has one
// that refuses something.
func (s *revocationSet) lookup(jti string) (revocation, bool) {
	id, ok := parseTokenID(jti)
	if !ok {
		r, ok := s.other[jti]
		return r, ok && r.flags != 0
	}
	if r, ok := s.recent[id]; ok {
		return r, r.flags != 0
	}
	if s.index != nil {
		for h := slot(id, s.shift); ; h = (h + 1) & (len(s.index) - 1) {
			switch p := s.index[h]; {
			case p == 0:
				return revocation{}, false
			case s.sorted[p-1].id == id:
				return s.sorted[p-1], true
			}
		}
	}
	i, found := slices.BinarySearchFunc(s.sorted, id, func(r revocation, id tokenID) int { return r.id.compare(id) })
	if !found {
		return revocation{}, false
	}
	return s.sorted[i], true
}

// put records a token's state.
func (s *revocationSet) put(r revocation) {
	s.recent[r.id] = r
	s.noteUntil(r)
}

// putOther records the state of a token whose id is not a UUID.
func (s *revocationSet) putOther(jti string, r revocation) {
	if r.flags == 0 {
		delete(s.other, jti)
		return
	}
	s.other[jti] = r
	s.noteUntil(r)
}

func (s *revocationSet) noteUntil(r revocation) {
	if r.flags != 0 {
		s.minUntil = min(s.minUntil, r.until)
	}
}

// len returns how many entries the set holds, those that refuse nothing
// and wait for a merge included.
func (s *revocationSet) len() int { return len(s.sorted) + len(s.recent) + len(s.other) }

// full reports whether recent has grown enough to be merged.
func (s *revocationSet) full() bool { return len(s.recent) >= max(4096, len(s.sorted)/8) }

// expiredAt reports whether an entry is dropped at now, with the leeway.
func expiredAt(until uint32, now time.Time, leeway time.Duration) bool {
	return now.Add(-leeway).Unix() > int64(until)
}

// compactionDue reports whether an entry has expired and compactEvery has
// passed since the last merge.
func (s *revocationSet) compactionDue(now time.Time, leeway time.Duration) bool {
	return expiredAt(s.minUntil, now, leeway) && now.Sub(s.mergedAt) >= compactEvery
}

// slot returns the index slot of an id: its bytes hashed by a
// multiplication (an id's last 8 bytes are random in a UUIDv4 or v7, its
// first are a time in a v7), the top bits kept.
func slot(id tokenID, shift uint) int {
	x := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return int((x * 0x9e3779b97f4a7c15) >> shift)
}

// merge is a new array for a revocationSet, with its index if it has one.
type merge struct {
	sorted   []revocation
	index    []uint32
	shift    uint
	minUntil uint32
}

// merged returns sorted with recent merged in and without the entries
// that refuse nothing or have expired at now, the earliest until among
// those kept, and, when indexed, the index of the new array. It only reads
// the set.
func (s *revocationSet) merged(now time.Time, leeway time.Duration, indexed bool) merge {
	add := make([]revocation, 0, len(s.recent))
	for _, r := range s.recent {
		add = append(add, r)
	}
	slices.SortFunc(add, func(a, b revocation) int { return a.id.compare(b.id) })
	out := make([]revocation, 0, len(s.sorted)+len(add))
	minUntil := uint32(math.MaxUint32)
	keep := func(r revocation) {
		if r.flags != 0 && !expiredAt(r.until, now, leeway) {
			out = append(out, r)
			minUntil = min(minUntil, r.until)
		}
	}
	i := 0
	for _, r := range add {
		for ; i < len(s.sorted) && s.sorted[i].id.compare(r.id) < 0; i++ {
			keep(s.sorted[i])
		}
		if i < len(s.sorted) && s.sorted[i].id == r.id {
			i++ // r replaces it
		}
		keep(r)
	}
	for ; i < len(s.sorted); i++ {
		keep(s.sorted[i])
	}
	if cap(out)-len(out) > len(out)/64 {
		out = slices.Clone(out) // the dropped entries' room
	}
	m := merge{sorted: out, minUntil: minUntil}
	if indexed && len(out) > 0 {
		m.index, m.shift = buildIndex(out)
	}
	return m
}

// buildIndex returns the index of an array: a power of two of slots, at
// most three quarters full, probed linearly.
func buildIndex(sorted []revocation) ([]uint32, uint) {
	bits := uint(1)
	for 1<<bits < len(sorted)*4/3+1 {
		bits++
	}
	index := make([]uint32, 1<<bits)
	shift := 64 - bits
	for i := range sorted {
		h := slot(sorted[i].id, shift)
		for index[h] != 0 {
			h = (h + 1) & (len(index) - 1)
		}
		index[h] = uint32(i + 1)
	}
	return index, shift
}

// install makes the merge's array (and index) the set's, empties recent
// and drops the expired entries of other; the caller holds the write lock.
func (s *revocationSet) install(m merge, now time.Time, leeway time.Duration) {
	minUntil := m.minUntil
	s.sorted, s.index, s.shift = m.sorted, m.index, m.shift
	s.recent, s.mergedAt = map[tokenID]revocation{}, now
	for jti, r := range s.other {
		if expiredAt(r.until, now, leeway) {
			delete(s.other, jti)
		} else {
			minUntil = min(minUntil, r.until)
		}
	}
	s.minUntil = minUntil
}
