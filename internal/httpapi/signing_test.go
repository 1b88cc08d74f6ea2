package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"
	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// checkBearerChallenge checks the WWW-Authenticate header of a 401: a
// Bearer challenge for tokend's realm that names invalid_token exactly when
// a bearer token was presented (RFC 6750, section 3.1).
func checkBearerChallenge(t *testing.T, r *response, presented bool) {
	t.Helper()
	c := r.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(c, `Bearer realm="tokend"`) {
		t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", c)
	}
	if named := strings.Contains(c, `error="invalid_token"`); named != presented {
		t.Fatalf("WWW-Authenticate = %q; token presented: %v", c, presented)
	}
	if !presented && strings.Contains(c, "error=") {
		t.Fatalf("WWW-Authenticate = %q names an error though no token was presented", c)
	}
}

// patchDoc returns an apiToken update document.
func patchDoc(id string, attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "apiToken", "id": id, "attributes": attrs}}
}

// countTokens returns how many tokens the user has, in any status.
func countTokens(t *testing.T, h *harness, userID string) int64 {
	t.Helper()
	page, err := h.Store.Tokens.List(context.Background(), apitoken.TokenFilter{
		UserID: userID, Statuses: apitoken.Statuses, Now: time.Now(), Limit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

// tokenParts splits a v2.public token into its decoded body (payload and
// signature) and its encoded footer.
func tokenParts(t *testing.T, token string) ([]byte, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0]+"."+parts[1]+"." != verifier.Prefix {
		t.Fatalf("%q is not a v2.public token with a footer", token)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return body, parts[3]
}

// tokenFooter returns a token's decoded footer.
func tokenFooter(t *testing.T, token string) string {
	t.Helper()
	_, footer := tokenParts(t, token)
	b, err := base64.RawURLEncoding.DecodeString(footer)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// footerKID returns the key id a token's footer names.
func footerKID(t *testing.T, token string) string {
	t.Helper()
	var f verifier.Footer
	if err := json.Unmarshal([]byte(tokenFooter(t, token)), &f); err != nil {
		t.Fatal(err)
	}
	return f.KeyID
}

// flipTokenByte returns the token with one bit of its body flipped: the
// byte at index i, counted from the end when negative. The body is
// re-encoded, so the change is not lost in base64 padding bits.
func flipTokenByte(t *testing.T, token string, i int) string {
	t.Helper()
	body, footer := tokenParts(t, token)
	if i < 0 {
		i += len(body)
	}
	body[i] ^= 0x01
	return verifier.Prefix + base64.RawURLEncoding.EncodeToString(body) + "." + footer
}

// withFooter returns the token with its footer replaced by one naming kid.
func withFooter(token, kid string) string {
	footer := base64.RawURLEncoding.EncodeToString([]byte(`{"kid":"` + kid + `"}`))
	return token[:strings.LastIndex(token, ".")+1] + footer
}

func foreignKID(pub ed25519.PublicKey) string { return paserk.PublicID(pub) }

// pasetoToken builds a go-paseto token holding the claims and a kid footer.
func pasetoToken(t *testing.T, c *verifier.Claims, kid string) paseto.Token {
	t.Helper()
	claims, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := paseto.NewTokenFromClaimsJSON(claims, []byte(`{"kid":"`+kid+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	return *tok
}

// signV2 signs the claims as a v2.public token with the key.
func signV2(t *testing.T, priv ed25519.PrivateKey, c *verifier.Claims, kid string) string {
	t.Helper()
	sk, err := paseto.NewV2AsymmetricSecretKeyFromEd25519(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pasetoToken(t, c, kid).V2Sign(sk)
}

// signV4 signs the claims as a v4.public token with the key.
func signV4(t *testing.T, priv ed25519.PrivateKey, c *verifier.Claims, kid string) string {
	t.Helper()
	sk, err := paseto.NewV4AsymmetricSecretKeyFromEd25519(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pasetoToken(t, c, kid).V4Sign(sk, nil)
}

// encryptV2Local encrypts the claims as a v2.local token.
func encryptV2Local(t *testing.T, key paseto.V2SymmetricKey, c *verifier.Claims, kid string) string {
	t.Helper()
	return pasetoToken(t, c, kid).V2Encrypt(key)
}

// activePrivateKey opens tokend's active signing key from the database, as
// a replica does, so that a test can sign what tokend itself never would.
func activePrivateKey(t *testing.T, h *harness) ed25519.PrivateKey {
	t.Helper()
	rec, err := h.Store.Keys.ActiveKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := sealer.Open(rec.ID, rec.SealedKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// signAndStore signs claims with tokend's active key, whatever their issuer
// and subject, and stores the token's metadata under the subject, or under
// a new user when there is none.
func signAndStore(t *testing.T, h *harness, issuer, subject string, c verifier.Claims) string {
	t.Helper()
	c.Issuer, c.Subject, c.ID, c.Scope = issuer, subject, uuid.NewString(), apitoken.ScopeAPITokens
	raw, kid, err := h.Ring.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	owner := subject
	if owner == "" {
		owner = h.user(apitoken.RoleMember)
	}
	sum := sha256.Sum256([]byte(raw))
	err = h.Store.Tokens.Create(context.Background(), &apitoken.Token{
		ID: c.ID, UserID: owner, Description: "signed", Scope: c.Scope, Expiration: c.Expiration,
		Enabled: true, KeyID: kid, Hash: sum[:], CreatedAt: c.IssuedAt, UpdatedAt: c.IssuedAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signUnstored signs valid claims with tokend's active key without storing
// anything about the token.
func signUnstored(t *testing.T, h *harness, subject string, c verifier.Claims) string {
	t.Helper()
	c.Issuer, c.Subject, c.ID, c.Scope = "tokend", subject, uuid.NewString(), apitoken.ScopeAPITokens
	raw, _, err := h.Ring.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
