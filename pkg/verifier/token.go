package verifier

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"aidanwoods.dev/go-paseto"
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
// scope list does not contain, in the order given.
func MissingScopes(scope string, required []string) []string {
	var missing []string
	have := strings.Fields(scope)
next:
	for _, r := range required {
		for _, h := range have {
			if h == r {
				continue next
			}
		}
		missing = append(missing, r)
	}
	return missing
}

// KeySet gives the public key for a key id, and whether the key may verify
// tokens at all.
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
func Parse(raw string, keys KeySet, opt Options) (*Claims, error) {
	if len(raw) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	if !strings.HasPrefix(raw, Prefix) {
		if strings.HasPrefix(raw, "v2.local.") || strings.HasPrefix(raw, "v1.") ||
			strings.HasPrefix(raw, "v3.") || strings.HasPrefix(raw, "v4.") {
			return nil, ErrUnsupported
		}
		return nil, ErrMalformed
	}
	kid, err := keyID(raw)
	if err != nil {
		return nil, err
	}
	pub, ok := keys.PublicKey(kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	pk, err := paseto.NewV2AsymmetricPublicKeyFromEd25519(pub)
	if err != nil {
		return nil, ErrUnknownKey
	}
	tok, err := paseto.NewParserWithoutExpiryCheck().ParseV2Public(pk, raw)
	if err != nil {
		return nil, ErrSignature
	}
	var c Claims
	if err := json.Unmarshal(tok.ClaimsJSON(), &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMissingClaims, err)
	}
	if err := c.Check(opt); err != nil {
		return nil, err
	}
	return &c, nil
}

// keyID reads the kid from a token's footer, the base64url segment after
// the payload. The footer is not yet authenticated: it only selects the key
// the signature is then checked with, and the signature covers it.
func keyID(raw string) (string, error) {
	rest := raw[len(Prefix):]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 || dot == len(rest)-1 {
		return "", fmt.Errorf("%w: no footer", ErrMalformed)
	}
	footer, err := base64.RawURLEncoding.DecodeString(rest[dot+1:])
	if err != nil {
		return "", fmt.Errorf("%w: footer is not base64url", ErrMalformed)
	}
	var f Footer
	if err := json.Unmarshal(footer, &f); err != nil || f.KeyID == "" {
		return "", fmt.Errorf("%w: footer has no kid", ErrMalformed)
	}
	return f.KeyID, nil
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
