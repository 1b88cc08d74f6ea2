package verifier

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"time"
)

// Prefix starts every token tokend issues.
const Prefix = "v2.public."

// MaxTokenLength bounds the size of a token Parse will look at. tokend's
// tokens are far shorter; anything longer is refused before any decoding.
const MaxTokenLength = 8 << 10

// Errors returned by Parse. Every one means the token must be refused; they
// differ only so that callers can say why.
var (
	ErrMalformed     = errors.New("token is malformed")
	ErrUnsupported   = errors.New("token is not a v2.public PASETO")
	ErrUnknownKey    = errors.New("token is signed by an unknown key")
	ErrSignature     = errors.New("token signature is invalid")
	ErrIssuer        = errors.New("token has the wrong issuer")
	ErrExpired       = errors.New("token has expired")
	ErrNotYetValid   = errors.New("token is not valid yet")
	ErrMissingClaims = errors.New("token lacks required claims")
)

// Claims are the payload of a tokend token. Times are encoded as RFC 3339
// strings, as PASETO specifies for registered claims.
type Claims struct {
	Issuer     string    `json:"iss"`
	Subject    string    `json:"sub"`
	ID         string    `json:"jti"`
	IssuedAt   time.Time `json:"iat"`
	NotBefore  time.Time `json:"nbf"`
	Expiration time.Time `json:"exp"`
	// Scope is the space-separated scope list, exactly as stored by tokend.
	Scope string `json:"scope"`
	// SourceIP, when set, is the comma-separated list of addresses and CIDR
	// ranges the token may be used from.
	SourceIP string `json:"sourceIp,omitempty"`
	// Resources, when set, restricts the token to the listed resources.
	Resources []Resource `json:"resources,omitempty"`
}

// Resource names resources a token is restricted to, like Unit's
// RestrictedResource: a resource type and the ids of that type.
type Resource struct {
	Type string   `json:"type" jsonapi:"attr,type"`
	IDs  []string `json:"ids" jsonapi:"attr,ids"`
}

// Footer is the JSON footer of a tokend token.
type Footer struct {
	// KeyID is the PASERK k2.pid id of the signing key.
	KeyID string `json:"kid"`
}

// Scopes returns the token's scopes.
func (c *Claims) Scopes() []string {
	return strings.Fields(c.Scope)
}

// HasScopes reports whether the token holds every one of the given scopes.
func (c *Claims) HasScopes(required ...string) bool {
	return len(MissingScopes(c.Scope, required)) == 0
}

// MissingScopes returns the scopes in required that the space-separated
// scope list does not contain, in the order given. It allocates only when
// a scope is missing.
func MissingScopes(scope string, required []string) []string {
	var missing []string
	for _, r := range required {
		if !hasScope(scope, r) {
			missing = append(missing, r)
		}
	}
	return missing
}

// hasScope reports whether the space-separated scope list holds s.
func hasScope(scope, s string) bool {
	for f := range strings.FieldsSeq(scope) {
		if f == s {
			return true
		}
	}
	return false
}

// KeySet gives the public key for a key id, and whether the key may verify
// tokens at all. Parse and Memo.Parse ask it at every use of a token, so a
// key it stops accepting refuses the tokens it signed at once, remembered
// or not.
type KeySet interface {
	PublicKey(kid string) (ed25519.PublicKey, bool)
}

// Options are the checks Parse makes beyond the signature.
type Options struct {
	// Issuer is the required iss claim.
	Issuer string
	// Now is the time the token must be valid at.
	Now time.Time
	// Leeway tolerates clock skew between issuer and verifier: a token is
	// accepted up to Leeway after exp and from Leeway before nbf and iat.
	Leeway time.Duration
}

// Parse verifies a token string: its version and purpose, the signature
// against the key its footer names, the issuer and the validity period. It
// returns the claims of a valid token, or one of the package's errors
// wrapped with detail.
//
// Parse remembers nothing: every call verifies the signature again. A
// caller that sees the same tokens again and again uses a Memo instead.
func Parse(raw string, keys KeySet, opt Options) (*Claims, error) {
	e, err := verifyToken(raw, keys)
	if err != nil {
		return nil, err
	}
	if err := e.claims.Check(opt); err != nil {
		return nil, err
	}
	return &e.claims, nil
}

// ParseUnchecked verifies a token string's version, purpose and signature
// as Parse does, and returns its claims without checking them: neither the
// issuer nor the validity period. It is for the rare caller to whom a
// token's validity does not matter, such as an issuer handling a report
// that the token leaked: a token whose signature verifies is one it
// signed, expired or not. Never authorize anything with it.
func ParseUnchecked(raw string, keys KeySet) (*Claims, error) {
	e, err := verifyToken(raw, keys)
	if err != nil {
		return nil, err
	}
	return &e.claims, nil
}

// Check checks the claims of a token whose signature is known to be good:
// the required claims, the issuer and the validity period at opt.Now. Parse
// runs it; a caller that remembers verified claims runs it again at each
// use, since a token's validity depends on the time.
func (c *Claims) Check(opt Options) error {
	if c.Subject == "" || c.ID == "" || c.Expiration.IsZero() || c.IssuedAt.IsZero() || c.NotBefore.IsZero() {
		return ErrMissingClaims
	}
	if c.Issuer != opt.Issuer {
		return ErrIssuer
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	if !now.Before(c.Expiration.Add(opt.Leeway)) {
		return ErrExpired
	}
	if now.Add(opt.Leeway).Before(c.NotBefore) || now.Add(opt.Leeway).Before(c.IssuedAt) {
		return ErrNotYetValid
	}
	return nil
}
