// Package paserk implements the parts of PASERK (Platform-Agnostic
// Serialized Keys) that tokend needs for PASETO v2.public: the k2.public
// serialization of an Ed25519 public key and the k2.pid key identifier.
//
// The formats follow https://github.com/paseto-standard/paserk and are
// checked against its test vectors, so identifiers produced here match every
// conforming PASERK implementation.
package paserk

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"

	"golang.org/x/crypto/blake2b"
)

const (
	// PublicPrefix starts every k2.public PASERK.
	PublicPrefix = "k2.public."
	// PIDPrefix starts every k2.pid PASERK.
	PIDPrefix = "k2.pid."
)

// ErrInvalid reports a string that is not a well-formed k2.public PASERK
// for a 32-byte Ed25519 public key.
var ErrInvalid = errors.New("paserk: not a k2.public key")

var b64 = base64.RawURLEncoding

// EncodePublic returns the k2.public PASERK of an Ed25519 public key.
func EncodePublic(pub ed25519.PublicKey) string {
	return PublicPrefix + b64.EncodeToString(pub)
}

// DecodePublic parses a k2.public PASERK. It refuses every other type and
// version, padded or non-canonical base64, and keys that are not 32 bytes.
func DecodePublic(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, PublicPrefix)
	if !ok {
		return nil, ErrInvalid
	}
	key, err := b64.Strict().DecodeString(rest)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, ErrInvalid
	}
	return ed25519.PublicKey(key), nil
}

// PublicID returns the k2.pid identifier of an Ed25519 public key: the
// prefix followed by the base64url BLAKE2b-264 digest of the prefix and the
// key's k2.public serialization.
func PublicID(pub ed25519.PublicKey) string {
	return id(PIDPrefix, EncodePublic(pub))
}

// id computes a PASERK identifier for versions 2 and 4, which share the
// algorithm: BLAKE2b with a 33-byte output over header || serialized key.
func id(header, serialized string) string {
	h, err := blake2b.New(33, nil)
	if err != nil {
		panic(err) // 33 is a valid size; unreachable
	}
	h.Write([]byte(header))
	h.Write([]byte(serialized))
	return header + b64.EncodeToString(h.Sum(nil))
}
