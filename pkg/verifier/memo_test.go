package verifier_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/pkg/verifier"
)

func TestMemoRemembersSignaturesNotDecisions(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	tok := s.sign(t, validClaims(parseNow), s.footer())
	sum := verifier.TokenHash(tok)
	m := verifier.NewMemo(100)

	first, err := m.Parse(tok, sum, s.keys(), parseOptions())
	if err != nil {
		t.Fatalf("first Parse: %v", err)
	}
	if again, err := m.Parse(tok, sum, s.keys(), parseOptions()); err != nil || again != first {
		t.Fatalf("second Parse = %p, %v; want the remembered claims %p", again, err, first)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1", m.Len())
	}

	at := func(d time.Duration) verifier.Options {
		opt := parseOptions()
		opt.Now = parseNow.Add(d)
		return opt
	}
	otherIssuer := parseOptions()
	otherIssuer.Issuer = "someone-else"
	tests := []struct {
		name string
		keys keyMap
		opt  verifier.Options
		want error
	}{
		{"once it has expired", s.keys(), at(time.Hour + 5*time.Second), verifier.ErrExpired},
		{"before it is valid", s.keys(), at(-time.Minute - 6*time.Second), verifier.ErrNotYetValid},
		{"for another issuer", s.keys(), otherIssuer, verifier.ErrIssuer},
		{"once its key is no longer in the set", other.keys(), parseOptions(), verifier.ErrUnknownKey},
		{"when its kid names another key", keyMap{s.kid: other.pub}, parseOptions(), verifier.ErrSignature},
	}
	for _, tt := range tests {
		t.Run("a remembered token is refused "+tt.name, func(t *testing.T) {
			c, err := m.Parse(tok, sum, tt.keys, tt.opt)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Parse = %v, %v; want %v", c, err, tt.want)
			}
		})
	}
	t.Run("and accepted again when all is well", func(t *testing.T) {
		if c, err := m.Parse(tok, sum, s.keys(), parseOptions()); err != nil || c != first {
			t.Fatalf("Parse = %p, %v; want %p", c, err, first)
		}
	})
}

func TestMemoParseAgreesWithParse(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	good := s.sign(t, validClaims(parseNow), s.footer())
	body, footer := tokenParts(t, good)
	body[3] ^= 1
	expired := validClaims(parseNow)
	expired["exp"] = parseNow.Add(-time.Hour).Format(time.RFC3339)
	tokens := map[string]string{
		"a valid token":             good,
		"a tampered token":          joinToken(body, footer),
		"an expired token":          s.sign(t, expired, s.footer()),
		"a token of an unknown key": other.sign(t, validClaims(parseNow), other.footer()),
		"a malformed token":         "v2.public.garbage",
		"a v2.local header":         "v2.local.AAAA",
	}
	m := verifier.NewMemo(100)
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			want, wantErr := verifier.Parse(tok, s.keys(), parseOptions())
			for i := 0; i < 2; i++ {
				got, err := m.Parse(tok, verifier.TokenHash(tok), s.keys(), parseOptions())
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("Memo.Parse #%d error = %v, Parse error = %v", i+1, err, wantErr)
				}
				if (got == nil) != (want == nil) || got != nil && got.ID != want.ID {
					t.Fatalf("Memo.Parse #%d = %+v, Parse = %+v", i+1, got, want)
				}
			}
		})
	}
	t.Run("a nil Memo is Parse", func(t *testing.T) {
		var nilMemo *verifier.Memo
		c, err := nilMemo.Parse(good, verifier.TokenHash(good), s.keys(), parseOptions())
		if err != nil || c.Scope != "customers accounts" {
			t.Fatalf("Parse = %v, %v", c, err)
		}
		if nilMemo.Len() != 0 {
			t.Fatal("a nil Memo has entries")
		}
	})
}

func TestMemoIsNotFooledByAWrongSum(t *testing.T) {
	s := newTestSigner(t)
	a, b := validClaims(parseNow), validClaims(parseNow)
	b["jti"], b["scope"] = "token-b", "payments-write"
	tokA, tokB := s.sign(t, a, s.footer()), s.sign(t, b, s.footer())
	m := verifier.NewMemo(100)
	if _, err := m.Parse(tokA, verifier.TokenHash(tokA), s.keys(), parseOptions()); err != nil {
		t.Fatal(err)
	}
	c, err := m.Parse(tokB, verifier.TokenHash(tokA), s.keys(), parseOptions())
	if err != nil || c.ID != "token-b" || c.Scope != "payments-write" {
		t.Fatalf("Parse of B under A's sum = %+v, %v; want B's claims", c, err)
	}
	c, err = m.Parse(tokA, verifier.TokenHash(tokA), s.keys(), parseOptions())
	if err != nil || c.ID != a["jti"] {
		t.Fatalf("Parse of A after = %+v, %v; want A's claims", c, err)
	}
}

// distinctTokens returns n tokens of the signer that differ by jti.
func distinctTokens(t *testing.T, s *testSigner, n int) []string {
	t.Helper()
	toks := make([]string, n)
	for i := range toks {
		claims := validClaims(parseNow)
		claims["jti"] = fmt.Sprintf("token-%d", i)
		toks[i] = s.sign(t, claims, s.footer())
	}
	return toks
}

func TestMemoIsBounded(t *testing.T) {
	s := newTestSigner(t)
	const size = 32
	m := verifier.NewMemo(size)
	hot := s.sign(t, validClaims(parseNow), s.footer())
	hotClaims, err := m.Parse(hot, verifier.TokenHash(hot), s.keys(), parseOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range distinctTokens(t, s, 10*size) {
		c, err := m.Parse(tok, verifier.TokenHash(tok), s.keys(), parseOptions())
		if err != nil || c.ID != fmt.Sprintf("token-%d", i) {
			t.Fatalf("Parse of token %d = %+v, %v", i, c, err)
		}
		if n := m.Len(); n > size {
			t.Fatalf("after %d tokens, Len = %d, more than the size %d", i+1, n, size)
		}
		// A token in use between the others stays remembered.
		if c, err := m.Parse(hot, verifier.TokenHash(hot), s.keys(), parseOptions()); err != nil || c != hotClaims {
			t.Fatalf("after %d other tokens, the token in use = %p, %v; want it remembered (%p)", i+1, c, err, hotClaims)
		}
	}
	if n := m.Len(); n < size/2 {
		t.Fatalf("Len = %d after many tokens, want it near the size %d", n, size)
	}
}

func TestMemoDefaultSize(t *testing.T) {
	s := newTestSigner(t)
	for _, size := range []int{0, -1} {
		m := verifier.NewMemo(size)
		tok := s.sign(t, validClaims(parseNow), s.footer())
		if _, err := m.Parse(tok, verifier.TokenHash(tok), s.keys(), parseOptions()); err != nil || m.Len() != 1 {
			t.Fatalf("NewMemo(%d): Parse %v, Len %d; want a memo of the default size", size, err, m.Len())
		}
	}
}

func TestMemoIsSafeForConcurrentUse(t *testing.T) {
	s := newTestSigner(t)
	toks := distinctTokens(t, s, 40)
	m := verifier.NewMemo(16) // smaller than the tokens, so that entries are evicted meanwhile
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				j := (i*7 + g) % len(toks)
				c, err := m.Parse(toks[j], verifier.TokenHash(toks[j]), s.keys(), parseOptions())
				if err != nil || c.ID != fmt.Sprintf("token-%d", j) {
					t.Errorf("Parse of token %d = %+v, %v", j, c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() > 16 {
		t.Fatalf("Len = %d, more than 16", m.Len())
	}
}

func TestRememberedTokensAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newTestSigner(t)
	claims := validClaims(parseNow)
	claims["sourceIp"] = "192.0.2.0/24"
	tok := s.sign(t, claims, s.footer())
	sum := verifier.TokenHash(tok)
	m, keys, opt := verifier.NewMemo(10), s.keys(), parseOptions()
	if _, err := m.Parse(tok, sum, keys, opt); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { m.Parse(tok, sum, keys, opt) }); n != 0 {
		t.Errorf("Memo.Parse of a remembered token: %v allocations, want 0", n)
	}

	v, err := verifier.New(verifier.Config{Keys: s.keys(), Now: func() time.Time { return parseNow }})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.7")
	if _, err := v.Verify(tok, ip, "customers", "accounts"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { v.Verify(tok, ip, "customers", "accounts") }); n != 0 {
		t.Errorf("Verify of a remembered token: %v allocations, want 0", n)
	}
}

func TestVerifyChecksEveryRequestOfARememberedToken(t *testing.T) {
	s := newTestSigner(t)
	claims := validClaims(parseNow)
	claims["sourceIp"] = "192.0.2.0/24"
	tok := s.sign(t, claims, s.footer())
	clock := newTestClock(parseNow)
	v, err := verifier.New(verifier.Config{Keys: s.keys(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	inside, outside := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.7")
	first, err := v.Verify(tok, inside, "customers")
	if err != nil {
		t.Fatal(err)
	}
	var scopeErr *verifier.ScopeError
	tests := []struct {
		name     string
		ip       netip.Addr
		required []string
		check    func(error) bool
	}{
		{"a scope it lacks", inside, []string{"customers", "payments-write"}, func(err error) bool {
			return errors.As(err, &scopeErr) && len(scopeErr.Missing) == 1 && scopeErr.Missing[0] == "payments-write"
		}},
		{"an address outside its sourceIp", outside, []string{"customers"}, func(err error) bool { return errors.Is(err, verifier.ErrSourceIP) }},
		{"an unknown address", netip.Addr{}, nil, func(err error) bool { return errors.Is(err, verifier.ErrSourceIP) }},
		{"the scopes it holds", inside, []string{"accounts", "customers"}, func(err error) bool { return err == nil }},
	}
	for round := 0; round < 2; round++ { // the same requests again, in another order of use
		for _, tt := range tests {
			t.Run(fmt.Sprintf("round %d: %s", round+1, tt.name), func(t *testing.T) {
				c, err := v.Verify(tok, tt.ip, tt.required...)
				if !tt.check(err) {
					t.Fatalf("Verify = %v", err)
				}
				if err == nil && c != first {
					t.Fatalf("Verify = %p, want the remembered claims %p", c, first)
				}
			})
		}
	}
	t.Run("once the clock passes its expiration, it is refused", func(t *testing.T) {
		clock.Advance(time.Hour + 5*time.Second)
		if _, err := v.Verify(tok, inside, "customers"); !errors.Is(err, verifier.ErrExpired) {
			t.Fatalf("Verify = %v, want %v", err, verifier.ErrExpired)
		}
	})
}

func TestVerifierWithoutMemo(t *testing.T) {
	s := newTestSigner(t)
	tok := s.sign(t, validClaims(parseNow), s.footer())
	v, err := verifier.New(verifier.Config{Keys: s.keys(), MemoSize: -1, Now: func() time.Time { return parseNow }})
	if err != nil {
		t.Fatal(err)
	}
	a, errA := v.Verify(tok, loopback, "customers")
	b, errB := v.Verify(tok, loopback, "customers")
	if errA != nil || errB != nil || a == b || a.ID != b.ID {
		t.Fatalf("Verify twice = %p %v, %p %v; want the same claims verified twice", a, errA, b, errB)
	}
}
