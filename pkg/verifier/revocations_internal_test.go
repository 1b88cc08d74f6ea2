package verifier

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestTokenIDsParseOnlyCanonicalUUIDs(t *testing.T) {
	const id = "0193a6c3-0a44-7d2e-9b51-6f0e2a7c1d88"
	got, ok := parseTokenID(id)
	if !ok || got.String() != id || got[0] != 0x01 || got[15] != 0x88 {
		t.Fatalf("parseTokenID(%q) = %x, %v", id, got, ok)
	}
	for _, bad := range []string{"", "0193A6C3-0A44-7D2E-9B51-6F0E2A7C1D88", "0193a6c30a447d2e9b516f0e2a7c1d88",
		"0193a6c3-0a44-7d2e-9b51-6f0e2a7c1d8", "0193a6c3-0a44-7d2e-9b51_6f0e2a7c1d88", "0193a6c3-0a44-7d2e-9b51-6f0e2a7c1dzz", "not-a-token-id"} {
		if _, ok := parseTokenID(bad); ok {
			t.Errorf("parseTokenID(%q) parsed", bad)
		}
	}
}

// idOf returns the i-th of a set of distinct test ids.
func idOf(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012x", i) }

func TestRevocationSet(t *testing.T) {
	t.Run("with binary search", func(t *testing.T) { testRevocationSet(t, false) })
	t.Run("with the index", func(t *testing.T) { testRevocationSet(t, true) })
}

func testRevocationSet(t *testing.T, indexed bool) {
	now := time.Unix(1_800_000_000, 0)
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	later := now.Add(time.Hour)
	revoked := func(i int, exp time.Time) revocation {
		r := newRevocation(true, true, ms(exp), ms(exp))
		r.id, _ = parseTokenID(idOf(i))
		return r
	}
	s := newRevocationSet()
	merge := func(s *revocationSet, at time.Time) {
		s.install(s.merged(at, 5*time.Second, indexed), at, 5*time.Second)
	}
	t.Run("an entry is found before and after a merge", func(t *testing.T) {
		s.put(revoked(1, later))
		if r, ok := s.lookup(idOf(1)); !ok || r.flags != flagRevoked {
			t.Fatalf("lookup in recent = %+v, %v", r, ok)
		}
		merge(&s, now)
		if r, ok := s.lookup(idOf(1)); !ok || r.flags != flagRevoked || len(s.sorted) != 1 || len(s.recent) != 0 {
			t.Fatalf("lookup after the merge = %+v, %v (sorted %d, recent %d)", r, ok, len(s.sorted), len(s.recent))
		}
		if _, ok := s.lookup(idOf(2)); ok {
			t.Fatal("an unknown token has an entry")
		}
	})
	t.Run("a state that refuses nothing hides the entry, and the merge drops both", func(t *testing.T) {
		cleared := newRevocation(false, true, ms(later), ms(later))
		cleared.id, _ = parseTokenID(idOf(1))
		s.put(cleared)
		if _, ok := s.lookup(idOf(1)); ok {
			t.Fatal("a re-enabled token still has an entry")
		}
		merge(&s, now)
		if s.len() != 0 {
			t.Fatalf("%d entries after the merge, want none", s.len())
		}
	})
	t.Run("a shortened token is refused from its new expiration", func(t *testing.T) {
		r := newRevocation(false, true, ms(now), ms(later))
		if r.flags != flagShortened || r.expires != uint32(now.Unix()) || r.until != uint32(later.Unix()) {
			t.Fatalf("entry = %+v", r)
		}
		if d := newRevocation(false, false, ms(later), ms(later)); d.flags != flagDisabled {
			t.Fatalf("disabled entry = %+v", d)
		}
	})
	t.Run("merges keep the array sorted and the latest state of each token", func(t *testing.T) {
		s := newRevocationSet()
		rng := rand.New(rand.NewPCG(1, 2))
		want := map[string]bool{}
		for round := range 5 {
			for _, i := range rng.Perm(3000) {
				r := revoked(i, later)
				if (i+round)%3 == 0 {
					r.flags = 0 // cleared in this round
				}
				s.put(r)
				want[idOf(i)] = r.flags != 0
			}
			merge(&s, now)
		}
		if !slices.IsSortedFunc(s.sorted, func(a, b revocation) int { return a.id.compare(b.id) }) {
			t.Fatal("the array is not sorted")
		}
		for id, refused := range want {
			if _, ok := s.lookup(id); ok != refused {
				t.Fatalf("token %s: entry %v, want %v", id, ok, refused)
			}
		}
	})
	t.Run("expired entries are dropped at a merge, after the leeway", func(t *testing.T) {
		s := newRevocationSet()
		s.put(revoked(1, now.Add(time.Minute)))
		s.put(revoked(2, later))
		s.putOther("legacy-id", revoked(3, now.Add(time.Minute)))
		merge(&s, now)
		if s.compactionDue(now.Add(time.Minute+5*time.Second), 5*time.Second) {
			t.Fatal("compaction due within the leeway")
		}
		if !s.compactionDue(now.Add(2*time.Minute), 5*time.Second) {
			t.Fatal("no compaction due after an entry expired")
		}
		merge(&s, now.Add(2*time.Minute))
		if _, ok := s.lookup(idOf(1)); ok || s.len() != 1 {
			t.Fatalf("after expiry: %d entries, token 1 found %v; want only token 2", s.len(), ok)
		}
		if _, ok := s.lookup(idOf(2)); !ok {
			t.Fatal("an entry not expired was dropped")
		}
		if s.compactionDue(now.Add(3*time.Minute), 5*time.Second) {
			t.Fatal("compaction due with nothing expired")
		}
	})
}

// lookupBenchSize is how many revocations the lookup benchmarks hold.
const lookupBenchSize = 1_000_000

// BenchmarkRevocationLookup measures Verify's lookup of a token's state
// among a million revocations, in random order: through the index, as
// after a round, and by binary search of the sorted array, as in the
// middle of one. Compare it with BenchmarkRevocationLookupMap, the map of
// string ids the verifier used before.
func BenchmarkRevocationLookup(b *testing.B) {
	ids := make([]string, lookupBenchSize)
	s := newRevocationSet()
	for i := range ids {
		ids[i] = idOf(i * 7919)
		r := newRevocation(true, true, 1e15, 1e15)
		r.id, _ = parseTokenID(ids[i])
		s.put(r)
		if s.full() {
			s.install(s.merged(time.Unix(0, 0), 0, false), time.Unix(0, 0), 0)
		}
	}
	s.install(s.merged(time.Unix(0, 0), 0, true), time.Unix(0, 0), 0)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, indexed := range []bool{true, false} {
		name := "index"
		if !indexed {
			name = "binary-search"
			s.index = nil
		}
		b.Run(name, func(b *testing.B) {
			for i := range b.N {
				if _, ok := s.lookup(ids[i%len(ids)]); !ok {
					b.Fatal("revocation not found")
				}
			}
		})
	}
}

// BenchmarkRevocationLookupMap is the baseline of BenchmarkRevocationLookup:
// a map of string ids to states of 50 bytes, as the verifier kept them
// before.
func BenchmarkRevocationLookupMap(b *testing.B) {
	type state struct {
		revoked, enabled bool
		expiration, exp  time.Time
	}
	ids := make([]string, lookupBenchSize)
	m := make(map[string]state)
	for i := range ids {
		ids[i] = idOf(i * 7919)
		m[ids[i]] = state{revoked: true}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	b.ResetTimer()
	for i := range b.N {
		if _, ok := m[ids[i%len(ids)]]; !ok {
			b.Fatal("revocation not found")
		}
	}
}
