package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/pkg/paserk"
)

const (
	testSecret  = "keys-test-secret-keys-test-secret-0123"
	otherSecret = "another-secret-another-secret-another-0"
)

// MustNewSealer returns a sealer for the secret or fails the test.
func MustNewSealer(tb testing.TB, secret string) *keys.Sealer {
	tb.Helper()
	s, err := keys.NewSealer(secret)
	if err != nil {
		tb.Fatalf("NewSealer: %v", err)
	}
	return s
}

func newSeed(tb testing.TB) (seed []byte, kid string) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return priv.Seed(), paserk.PublicID(pub)
}

func TestSealerRoundTrip(t *testing.T) {
	s := MustNewSealer(t, testSecret)
	seed, kid := newSeed(t)
	sealed := s.Seal(kid, seed)

	priv, err := s.Open(kid, sealed)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !priv.Equal(ed25519.NewKeyFromSeed(seed)) {
		t.Fatal("Open returned another private key")
	}
	if bytes.Contains(sealed, seed) {
		t.Fatal("the sealed key contains the seed in the clear")
	}
	if again := s.Seal(kid, seed); bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes: the nonce is not random")
	}
	// The same secret derives the same key in another process.
	if _, err := MustNewSealer(t, testSecret).Open(kid, sealed); err != nil {
		t.Fatalf("a second sealer with the same secret: %v", err)
	}
}

func TestSealerRefusesWhatItCannotOpen(t *testing.T) {
	s := MustNewSealer(t, testSecret)
	seed, kid := newSeed(t)
	sealed := s.Seal(kid, seed)
	_, otherKid := newSeed(t)

	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		sealer *keys.Sealer
		kid    string
		sealed []byte
	}{
		{"a key sealed under another secret", MustNewSealer(t, otherSecret), kid, sealed},
		{"a secret differing in one character", MustNewSealer(t, testSecret[:len(testSecret)-1]+"4"), kid, sealed},
		{"a sealed key moved to another key id", s, otherKid, sealed},
		{"a sealed key with a flipped bit", s, kid, flipped},
		{"a truncated sealed key", s, kid, sealed[:len(sealed)-1]},
		{"a sealed key shorter than a nonce", s, kid, sealed[:5]},
		{"nothing", s, kid, nil},
		{"a sealed value that is not a seed", s, kid, s.Seal(kid, []byte("short"))},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			priv, err := tt.sealer.Open(tt.kid, tt.sealed)
			if !errors.Is(err, keys.ErrWrongSecret) {
				t.Fatalf("Open = %v, want %v", err, keys.ErrWrongSecret)
			}
			if priv != nil {
				t.Fatal("Open returned a key with its error")
			}
		})
	}
}

func TestNewSealerRefusesShortSecrets(t *testing.T) {
	for _, secret := range []string{"", "short", strings.Repeat("x", keys.MinSecretLength-1)} {
		if _, err := keys.NewSealer(secret); err == nil || !strings.Contains(err.Error(), "at least 32 characters") {
			t.Errorf("NewSealer(%d characters) = %v, want a too-short error", len(secret), err)
		}
	}
	if _, err := keys.NewSealer("5f0c9a8e2b7d4c1f6a3e8b0d9c2f7a41"); err != nil {
		t.Errorf("NewSealer(32 hexadecimal digits): %v", err)
	}
}

func TestSealSecretOpensOnlyUnderItsLabel(t *testing.T) {
	s := MustNewSealer(t, testSecret)
	secret := []byte("a webhook's signing secret")
	sealed := s.SealSecret("webhook 1", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed secret holds the secret in clear")
	}
	got, err := s.OpenSecret("webhook 1", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("OpenSecret = %q, %v; want %q", got, err, secret)
	}
	if _, err := s.OpenSecret("webhook 2", sealed); !errors.Is(err, keys.ErrWrongSecret) {
		t.Errorf("another label opened the secret: %v", err)
	}
	if _, err := MustNewSealer(t, otherSecret).OpenSecret("webhook 1", sealed); !errors.Is(err, keys.ErrWrongSecret) {
		t.Errorf("another service secret opened the secret: %v", err)
	}
}
