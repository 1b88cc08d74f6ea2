package verifier_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// The official PASETO v2.public test vectors 2-S-1 and 2-S-2
// (paseto-standard/test-vectors, v2.json). 2-S-3 is 2-S-2 with an implicit
// assertion, which v2 does not have.
const (
	vectorPublicKey = "1eb9dbbbbc047c03fd70604e0071f0987e16b28b757225c11f00415d0e20b1a2"
	vectorSecretKey = "b4cbfb43df4ce210727d953e4a713307fa19bb7d9f85041438d9e11b942a3774" + vectorPublicKey
	vectorPayload   = `{"data":"this is a signed message","exp":"2019-01-01T00:00:00+00:00"}`
	vectorKID       = "zVhMiPBP9fRf2snEcT7gFTioeA9COcNy9DfgL1W60haN"
)

var officialVectors = []struct {
	name, token, footer string
}{
	{"2-S-1", "v2.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAxOS0wMS0wMVQwMDowMDowMCswMDowMCJ9HQr8URrGntTu7Dz9J2IF23d1M7-9lH9xiqdGyJNvzp4angPW5Esc7C5huy_M8I8_DjJK2ZXC2SUYuOFM-Q_5Cw", ""},
	{"2-S-2", "v2.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAxOS0wMS0wMVQwMDowMDowMCswMDowMCJ9flsZsx_gYCR0N_Ec2QxJFFpvQAs7h9HtKwbVK2n1MJ3Rz-hwe8KUqjnd8FAnIJZ601tp7lGkguU63oGbomhoBw.eyJraWQiOiJ6VmhNaVBCUDlmUmYyc25FY1Q3Z0ZUaW9lQTlDT2NOeTlEZmdMMVc2MGhhTiJ9",
		`{"kid":"` + vectorKID + `"}`},
}

func vectorKey(tb testing.TB) ed25519.PublicKey {
	tb.Helper()
	b, err := hex.DecodeString(vectorPublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return ed25519.PublicKey(b)
}

func TestOfficialV2PublicVectors(t *testing.T) {
	pub := vectorKey(t)
	pk, err := paseto.NewV2AsymmetricPublicKeyFromEd25519(pub)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := paseto.NewV2AsymmetricSecretKeyFromHex(vectorSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range officialVectors {
		t.Run(v.name+" parses with its public key", func(t *testing.T) {
			tok, err := paseto.NewParserWithoutExpiryCheck().ParseV2Public(pk, v.token)
			if err != nil {
				t.Fatalf("ParseV2Public: %v", err)
			}
			if got := string(tok.ClaimsJSON()); got != vectorPayload {
				t.Fatalf("claims = %s, want %s", got, vectorPayload)
			}
			if got := string(tok.Footer()); got != v.footer {
				t.Fatalf("footer = %q, want %q", got, v.footer)
			}
		})
		t.Run(v.name+" is reproduced by signing its payload with its secret key", func(t *testing.T) {
			tok, err := paseto.NewTokenFromClaimsJSON([]byte(vectorPayload), []byte(v.footer))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.V2Sign(sk); got != v.token {
				t.Fatalf("V2Sign =\n%s\nwant\n%s", got, v.token)
			}
		})
	}

	// Parse reaches the claims of a vector only if it verified the
	// signature as the standard does: 2-S-2 lacks tokend's claims, so a
	// correct signature check ends at ErrMissingClaims.
	t.Run("Parse verifies 2-S-2's signature and then wants tokend's claims", func(t *testing.T) {
		_, err := verifier.Parse(officialVectors[1].token, keyMap{vectorKID: pub}, parseOptions())
		if !errors.Is(err, verifier.ErrMissingClaims) {
			t.Fatalf("Parse = %v, want %v (after a valid signature)", err, verifier.ErrMissingClaims)
		}
	})
	t.Run("Parse refuses 2-S-2 under another key", func(t *testing.T) {
		other := newTestSigner(t)
		_, err := verifier.Parse(officialVectors[1].token, keyMap{vectorKID: other.pub}, parseOptions())
		if !errors.Is(err, verifier.ErrSignature) {
			t.Fatalf("Parse = %v, want %v", err, verifier.ErrSignature)
		}
	})
	t.Run("Parse refuses 2-S-1, which has no footer to name its key", func(t *testing.T) {
		_, err := verifier.Parse(officialVectors[0].token, keyMap{vectorKID: pub}, parseOptions())
		if !errors.Is(err, verifier.ErrMalformed) {
			t.Fatalf("Parse = %v, want %v", err, verifier.ErrMalformed)
		}
	})
}

// TestRingTokensVerifyWithPlainPASETO checks the other direction: a token
// tokend's key ring signs is a standard v2.public token that go-paseto
// verifies with nothing but the public key, with the claims and footer
// the specification describes.
func TestRingTokensVerifyWithPlainPASETO(t *testing.T) {
	st := dbtest.MustOpen(t, store.SQLite)
	sealer, err := keys.NewSealer("interop-secret-interop-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	ring := keys.NewRing(st.Keys, sealer, nil)
	ctx := context.Background()
	if err := ring.Load(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	raw, kid, err := ring.Sign(ctx, verifier.Claims{
		Issuer: "tokend", Subject: "user-1", ID: "token-1",
		IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour),
		Scope: "customers accounts", SourceIP: "10.0.0.0/8",
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ring.List(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("List = %d keys, %v; want 1", len(recs), err)
	}

	// Only the public key, as a downstream service gets it: PASERK.
	pub, err := paserk.DecodePublic(paserk.EncodePublic(recs[0].PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := paseto.NewV2AsymmetricPublicKeyFromEd25519(pub)
	if err != nil {
		t.Fatal(err)
	}
	parser := paseto.NewParser() // checks exp, nbf and iat like any PASETO library
	parser.AddRule(paseto.IssuedBy("tokend"), paseto.Subject("user-1"), paseto.IdentifiedBy("token-1"))
	tok, err := parser.ParseV2Public(pk, raw)
	if err != nil {
		t.Fatalf("go-paseto refuses a ring token: %v", err)
	}

	var footer map[string]any
	if err := json.Unmarshal(tok.Footer(), &footer); err != nil {
		t.Fatalf("footer %q is not JSON: %v", tok.Footer(), err)
	}
	if len(footer) != 1 || footer["kid"] != paserk.PublicID(pub) || kid != paserk.PublicID(pub) {
		t.Fatalf("footer = %v, kid = %q; want only kid %q", footer, kid, paserk.PublicID(pub))
	}
	scope, err := tok.GetString("scope")
	if err != nil || scope != "customers accounts" {
		t.Fatalf("scope = %q, %v", scope, err)
	}
	exp, err := tok.GetExpiration()
	if err != nil || !exp.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("exp = %v, %v; want %v", exp, err, now.Add(time.Hour).Truncate(time.Second))
	}
	var claims map[string]any
	if err := json.Unmarshal(tok.ClaimsJSON(), &claims); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"iat", "nbf", "exp"} {
		s, _ := claims[name].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("claim %s = %v, want an RFC 3339 string", name, claims[name])
		}
	}
	if claims["sourceIp"] != "10.0.0.0/8" {
		t.Errorf("sourceIp claim = %v", claims["sourceIp"])
	}
	if _, ok := claims["resources"]; ok {
		t.Errorf("an unrestricted token carries a resources claim: %v", claims["resources"])
	}
}
