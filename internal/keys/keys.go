// Package keys manages tokend's Ed25519 signing keys: it creates them on
// first use, seals their private halves under a key derived from
// TOKEND_SECRET before they reach the database, signs tokens with the active
// key, and rotates and retires keys.
//
// Every replica shares the keys through the database, so any replica can
// sign, and a key rotated on one replica is seen by all.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"
)

// Status is a signing key's place in its life.
type Status string

// The key statuses: the active key signs and verifies; a retiring key only
// verifies, until its RetireAt; a retired key does neither.
const (
	Active   Status = "active"
	Retiring Status = "retiring"
	Retired  Status = "retired"
)

// Record is a signing key as stored.
type Record struct {
	// ID is the PASERK k2.pid of the public key.
	ID        string
	PublicKey ed25519.PublicKey
	// SealedKey is the Ed25519 seed sealed by a Sealer.
	SealedKey []byte
	Status    Status
	CreatedAt time.Time
	// RotatedAt is when the key stopped signing.
	RotatedAt *time.Time
	// RetireAt is when a retiring key stops verifying: by then every token
	// it signed has expired.
	RetireAt *time.Time
	// RetiredAt is when the key was retired explicitly.
	RetiredAt *time.Time
}

// StatusAt returns the key's status at the given time: a retiring key whose
// RetireAt has passed is retired.
func (r *Record) StatusAt(now time.Time) Status {
	if r.Status == Retiring && r.RetireAt != nil && !now.Before(*r.RetireAt) {
		return Retired
	}
	return r.Status
}

// Verifies reports whether the key may verify tokens at the given time.
func (r *Record) Verifies(now time.Time) bool {
	s := r.StatusAt(now)
	return s == Active || s == Retiring
}

// Sealer seals private keys for storage with AES-256-GCM under a key derived
// from the service secret by HKDF-SHA256. The key id is bound to the
// ciphertext as additional data, so a sealed key cannot be swapped for
// another row's.
type Sealer struct {
	aead cipher.AEAD
}

// MinSecretLength is the shortest secret NewSealer accepts.
const MinSecretLength = 32

// ErrWrongSecret reports a sealed key that does not open with this secret.
var ErrWrongSecret = errors.New("keys: signing key does not open with this TOKEND_SECRET (was it changed?)")

// minSecretBits is the least information a secret must appear to carry,
// estimated from the frequency of its characters: a random secret of
// MinSecretLength hexadecimal digits carries 128 bits and appears to carry
// about 110.
const minSecretBits = 96

// CheckSecret reports whether the secret is fit to seal signing keys: at
// least MinSecretLength characters, not one short pattern repeated, and
// characters varied enough to carry minSecretBits bits. It cannot tell a
// random secret from a guessable one that looks random; generate secrets
// with `openssl rand -base64 32`.
func CheckSecret(secret string) error {
	if len(secret) < MinSecretLength {
		return fmt.Errorf("the secret must be at least %d characters", MinSecretLength)
	}
	for n := 1; n <= len(secret)/2; n++ {
		if len(secret)%n == 0 && secret[n:] == secret[:len(secret)-n] { // a shift by n is itself: a period of n
			return errors.New("the secret is one short pattern repeated: use a random secret (openssl rand -base64 32)")
		}
	}
	var counts [256]int
	for i := 0; i < len(secret); i++ {
		counts[secret[i]]++
	}
	bits := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(secret))
			bits -= float64(c) * math.Log2(p)
		}
	}
	if bits < minSecretBits {
		return errors.New("the secret is too regular to be random: use a random secret (openssl rand -base64 32)")
	}
	return nil
}

// NewSealer derives the sealing key from the secret, which CheckSecret must
// accept.
func NewSealer(secret string) (*Sealer, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), []byte("tokend"), "tokend signing-key seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts an Ed25519 seed for the key id.
func (s *Sealer) Seal(kid string, seed []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.aead.Seal(nonce, nonce, seed, additionalData(kid))
}

// Open decrypts a sealed seed and returns the private key.
func (s *Sealer) Open(kid string, sealed []byte) (ed25519.PrivateKey, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrWrongSecret
	}
	seed, err := s.aead.Open(nil, sealed[:n], sealed[n:], additionalData(kid))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, ErrWrongSecret
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// SealSecret encrypts a secret other than a signing key, such as a
// webhook's signing secret, bound to label (the kind of secret and the id
// of its row), so that it opens only under the same label.
func (s *Sealer) SealSecret(label string, secret []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.aead.Seal(nonce, nonce, secret, []byte("tokend secret "+label))
}

// OpenSecret decrypts what SealSecret sealed with the same label.
func (s *Sealer) OpenSecret(label string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrWrongSecret
	}
	secret, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte("tokend secret "+label))
	if err != nil {
		return nil, ErrWrongSecret
	}
	return secret, nil
}

func additionalData(kid string) []byte {
	return []byte("tokend signing key " + kid)
}

// Store persists signing keys.
type Store interface {
	// ListKeys returns every key, oldest first.
	ListKeys(ctx context.Context) ([]Record, error)
	// ActiveKey returns the active key, or a not_found error.
	ActiveKey(ctx context.Context) (Record, error)
	// InsertActiveKey stores the first active key, or returns a conflict
	// error if another key is already active.
	InsertActiveKey(ctx context.Context, r Record) error
	// RotateKey atomically makes the active key retiring, with the given
	// RotatedAt and RetireAt, and stores next as the active key.
	RotateKey(ctx context.Context, next Record, rotatedAt, retireAt time.Time) error
	// RetireKey marks a key retired.
	RetireKey(ctx context.Context, id string, at time.Time) error
}
