package verifier_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// parseNow is the clock of the Parse tests.
var parseNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// keyMap is a KeySet holding fixed keys.
type keyMap map[string]ed25519.PublicKey

func (m keyMap) PublicKey(kid string) (ed25519.PublicKey, bool) {
	pub, ok := m[kid]
	return pub, ok
}

// testSigner is an Ed25519 key that signs tokens with go-paseto directly,
// the way any PASETO implementation would, not through tokend's code.
type testSigner struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

func newTestSigner(tb testing.TB) *testSigner {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &testSigner{priv: priv, pub: pub, kid: paserk.PublicID(pub)}
}

// keys returns a KeySet holding the signer's key under its kid.
func (s *testSigner) keys() keyMap { return keyMap{s.kid: s.pub} }

// footer returns the footer tokend writes for the signer's key.
func (s *testSigner) footer() string { return `{"kid":"` + s.kid + `"}` }

// sign returns a v2.public token of the claims with the footer; an empty
// footer leaves it out.
func (s *testSigner) sign(tb testing.TB, claims map[string]any, footer string) string {
	tb.Helper()
	tok, err := paseto.MakeToken(claims, []byte(footer))
	if err != nil {
		tb.Fatalf("paseto.MakeToken: %v", err)
	}
	sk, err := paseto.NewV2AsymmetricSecretKeyFromEd25519(s.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return tok.V2Sign(sk)
}

// validClaims returns the claims of a token valid at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":   "tokend",
		"sub":   "0194e5a0-0000-7000-8000-000000000001",
		"jti":   "0194e5a0-0000-7000-8000-000000000002",
		"iat":   now.Add(-time.Minute).Format(time.RFC3339),
		"nbf":   now.Add(-time.Minute).Format(time.RFC3339),
		"exp":   now.Add(time.Hour).Format(time.RFC3339),
		"scope": "customers accounts",
	}
}

func parseOptions() verifier.Options {
	return verifier.Options{Issuer: "tokend", Now: parseNow, Leeway: 5 * time.Second}
}

// tokenParts splits a v2.public token into its decoded body (message and
// signature) and footer.
func tokenParts(tb testing.TB, tok string) (body, footer []byte) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != "v2" || parts[1] != "public" {
		tb.Fatalf("%q is not a v2.public token with a footer", tok)
	}
	var err error
	if body, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		tb.Fatal(err)
	}
	if footer, err = base64.RawURLEncoding.DecodeString(parts[3]); err != nil {
		tb.Fatal(err)
	}
	return body, footer
}

func joinToken(body, footer []byte) string {
	return "v2.public." + base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(footer)
}

func TestParseAcceptsAValidToken(t *testing.T) {
	s := newTestSigner(t)
	claims := validClaims(parseNow)
	claims["sourceIp"] = "10.0.0.0/8,2001:db8::1"
	claims["resources"] = []map[string]any{{"type": "account", "ids": []string{"1", "2"}}}
	claims["extra"] = "ignored"
	tok := s.sign(t, claims, s.footer())

	got, err := verifier.Parse(tok, s.keys(), parseOptions())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &verifier.Claims{
		Issuer:     "tokend",
		Subject:    "0194e5a0-0000-7000-8000-000000000001",
		ID:         "0194e5a0-0000-7000-8000-000000000002",
		IssuedAt:   parseNow.Add(-time.Minute),
		NotBefore:  parseNow.Add(-time.Minute),
		Expiration: parseNow.Add(time.Hour),
		Scope:      "customers accounts",
		SourceIP:   "10.0.0.0/8,2001:db8::1",
		Resources:  []verifier.Resource{{Type: "account", IDs: []string{"1", "2"}}},
	}
	if !got.IssuedAt.Equal(want.IssuedAt) || !got.NotBefore.Equal(want.NotBefore) || !got.Expiration.Equal(want.Expiration) {
		t.Fatalf("times: iat %v nbf %v exp %v, want %v %v %v", got.IssuedAt, got.NotBefore, got.Expiration,
			want.IssuedAt, want.NotBefore, want.Expiration)
	}
	got.IssuedAt, got.NotBefore, got.Expiration = want.IssuedAt, want.NotBefore, want.Expiration
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
	}
	if scopes := got.Scopes(); !reflect.DeepEqual(scopes, []string{"customers", "accounts"}) {
		t.Fatalf("Scopes() = %q", scopes)
	}
}

func TestParseAcceptsTimesWithOffsetsAndFractions(t *testing.T) {
	s := newTestSigner(t)
	claims := validClaims(parseNow)
	paris := time.FixedZone("CET", 3600)
	claims["exp"] = parseNow.Add(time.Hour).In(paris).Format(time.RFC3339)
	claims["iat"] = parseNow.Add(-time.Second + 250*time.Millisecond).Format(time.RFC3339Nano)
	got, err := verifier.Parse(s.sign(t, claims, s.footer()), s.keys(), parseOptions())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !got.Expiration.Equal(parseNow.Add(time.Hour)) || !got.IssuedAt.Equal(parseNow.Add(-750*time.Millisecond)) {
		t.Fatalf("exp %v iat %v, want %v and %v", got.Expiration, got.IssuedAt, parseNow.Add(time.Hour), parseNow.Add(-750*time.Millisecond))
	}
}

func TestParseRefusesMalformedTokens(t *testing.T) {
	s := newTestSigner(t)
	good := s.sign(t, validClaims(parseNow), s.footer())
	tests := []struct {
		name string
		raw  string
	}{
		{"an empty string", ""},
		{"garbage", "not a token at all"},
		{"a JWT", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln"},
		{"the prefix alone", "v2.public."},
		{"a prefix in capitals", strings.Replace(good, "v2.public.", "V2.PUBLIC.", 1)},
		{"a token with spaces around it", " " + good},
		{"a token longer than MaxTokenLength", good + "." + strings.Repeat("A", verifier.MaxTokenLength)},
		{"a token without a footer", s.sign(t, validClaims(parseNow), "")},
		{"a token whose footer is not JSON", s.sign(t, validClaims(parseNow), s.kid)},
		{"a token whose footer has no kid", s.sign(t, validClaims(parseNow), `{"key":"`+s.kid+`"}`)},
		{"a token whose footer has an empty kid", s.sign(t, validClaims(parseNow), `{"kid":""}`)},
		{"a token whose kid is not a string", s.sign(t, validClaims(parseNow), `{"kid":42}`)},
		{"a token with a footer that is not base64url", good + "!"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is malformed", func(t *testing.T) {
			_, err := verifier.Parse(tt.raw, s.keys(), parseOptions())
			if !errors.Is(err, verifier.ErrMalformed) {
				t.Fatalf("Parse = %v, want %v", err, verifier.ErrMalformed)
			}
		})
	}

	t.Run("the length limit counts bytes, and a token at the limit is looked at", func(t *testing.T) {
		atLimit := "v2.public." + strings.Repeat("A", verifier.MaxTokenLength-len("v2.public."))
		_, err := verifier.Parse(atLimit, s.keys(), parseOptions())
		if !errors.Is(err, verifier.ErrMalformed) || strings.Contains(err.Error(), "longer than") {
			t.Fatalf("Parse of a %d-byte string = %v, want malformed for its content, not its length", len(atLimit), err)
		}
		_, err = verifier.Parse(atLimit+"A", s.keys(), parseOptions())
		if !errors.Is(err, verifier.ErrMalformed) || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("Parse of a %d-byte string = %v, want malformed for its length", len(atLimit)+1, err)
		}
	})
}

func TestParseRefusesOtherPASETOVersionsAndPurposes(t *testing.T) {
	claims := validClaims(parseNow)
	tok, err := paseto.MakeToken(claims, []byte(`{"kid":"k2.pid.x"}`))
	if err != nil {
		t.Fatal(err)
	}
	v3, v4 := paseto.NewV3AsymmetricSecretKey(), paseto.NewV4AsymmetricSecretKey()
	tests := []struct {
		name string
		raw  string
	}{
		{"a v2.local token", tok.V2Encrypt(paseto.NewV2SymmetricKey())},
		// go-paseto does not produce v1 tokens; the header is what counts.
		{"a token with a v1.local header", "v1.local." + base64.RawURLEncoding.EncodeToString(make([]byte, 80))},
		{"a token with a v1.public header", "v1.public." + base64.RawURLEncoding.EncodeToString(make([]byte, 300))},
		{"a v3.public token", tok.V3Sign(v3, nil)},
		{"a v3.local token", tok.V3Encrypt(paseto.NewV3SymmetricKey(), nil)},
		{"a v4.public token", tok.V4Sign(v4, nil)},
		{"a v4.local token", tok.V4Encrypt(paseto.NewV4SymmetricKey(), nil)},
	}
	s := newTestSigner(t)
	for _, tt := range tests {
		t.Run(tt.name+" is unsupported", func(t *testing.T) {
			_, err := verifier.Parse(tt.raw, s.keys(), parseOptions())
			if !errors.Is(err, verifier.ErrUnsupported) {
				t.Fatalf("Parse = %v, want %v", err, verifier.ErrUnsupported)
			}
		})
	}
}

func TestParseRefusesForgedTokens(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	good := s.sign(t, validClaims(parseNow), s.footer())
	body, footer := tokenParts(t, good)
	msgLen := len(body) - ed25519.SignatureSize

	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	// A payload changed in a way that still decodes as valid claims: a
	// longer lifetime.
	forgedClaims := validClaims(parseNow)
	forgedClaims["exp"] = parseNow.Add(1000 * time.Hour).Format(time.RFC3339)
	forgedMsg, _ := tokenParts(t, other.sign(t, forgedClaims, s.footer()))
	forgedMsg = forgedMsg[:len(forgedMsg)-ed25519.SignatureSize]

	tests := []struct {
		name string
		raw  string
		keys keyMap
		want error
	}{
		{"a token signed by a key the set lacks", other.sign(t, validClaims(parseNow), other.footer()), s.keys(), verifier.ErrUnknownKey},
		{"a token naming a kid the set lacks", s.sign(t, validClaims(parseNow), `{"kid":"k2.pid.unknown"}`), s.keys(), verifier.ErrUnknownKey},
		{"a token with a flipped payload bit", joinToken(flip(body, 10), footer), s.keys(), verifier.ErrSignature},
		{"a token whose claims were swapped for valid ones", joinToken(append(forgedMsg, body[msgLen:]...), footer), s.keys(), verifier.ErrSignature},
		{"a token with a flipped signature bit", joinToken(flip(body, msgLen+3), footer), s.keys(), verifier.ErrSignature},
		{"a token with a truncated signature", joinToken(body[:len(body)-1], footer), s.keys(), verifier.ErrSignature},
		{"a token with an extra footer member", joinToken(body, []byte(`{"kid":"`+s.kid+`","x":1}`)), s.keys(), verifier.ErrSignature},
		{"a token with its footer re-encoded with spaces", joinToken(body, []byte(`{"kid": "`+s.kid+`"}`)), s.keys(), verifier.ErrSignature},
		{"a token signed by a foreign key naming a known kid", other.sign(t, validClaims(parseNow), s.footer()), s.keys(), verifier.ErrSignature},
		{"a token whose kid maps to another key", good, keyMap{s.kid: other.pub}, verifier.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			c, err := verifier.Parse(tt.raw, tt.keys, parseOptions())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want %v", c, err, tt.want)
			}
			if c != nil {
				t.Fatalf("Parse returned claims %+v with its error", c)
			}
		})
	}
	t.Run("the untouched token is accepted", func(t *testing.T) {
		if _, err := verifier.Parse(good, s.keys(), parseOptions()); err != nil {
			t.Fatalf("Parse: %v", err)
		}
	})
}

func TestParseChecksTheClaims(t *testing.T) {
	s := newTestSigner(t)
	at := func(d time.Duration) string { return parseNow.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name   string
		change map[string]any // nil values delete the claim
		leeway time.Duration
		want   error // nil: accepted
	}{
		{"a token of another issuer", map[string]any{"iss": "someone-else"}, 5 * time.Second, verifier.ErrIssuer},
		{"a token without an issuer", map[string]any{"iss": nil}, 5 * time.Second, verifier.ErrIssuer},
		{"an issuer differing in case", map[string]any{"iss": "Tokend"}, 5 * time.Second, verifier.ErrIssuer},
		{"a token expired an hour ago", map[string]any{"exp": at(-time.Hour)}, 5 * time.Second, verifier.ErrExpired},
		{"a token expiring now, without leeway", map[string]any{"exp": at(0)}, 0, verifier.ErrExpired},
		{"a token expiring in a second, without leeway", map[string]any{"exp": at(time.Second)}, 0, nil},
		{"a token expired exactly the leeway ago", map[string]any{"exp": at(-5 * time.Second)}, 5 * time.Second, verifier.ErrExpired},
		{"a token expired less than the leeway ago", map[string]any{"exp": at(-4 * time.Second)}, 5 * time.Second, nil},
		{"a token not valid for an hour", map[string]any{"nbf": at(time.Hour)}, 5 * time.Second, verifier.ErrNotYetValid},
		{"a token valid from just past the leeway", map[string]any{"nbf": at(6 * time.Second)}, 5 * time.Second, verifier.ErrNotYetValid},
		{"a token valid from exactly the leeway ahead", map[string]any{"nbf": at(5 * time.Second)}, 5 * time.Second, nil},
		{"a token valid from a second ahead, without leeway", map[string]any{"nbf": at(time.Second)}, 0, verifier.ErrNotYetValid},
		{"a token valid from now, without leeway", map[string]any{"nbf": at(0)}, 0, nil},
		{"a token issued in the future", map[string]any{"iat": at(time.Hour)}, 5 * time.Second, verifier.ErrNotYetValid},
		{"a token issued just past the leeway ahead", map[string]any{"iat": at(6 * time.Second)}, 5 * time.Second, verifier.ErrNotYetValid},
		{"a token issued exactly the leeway ahead", map[string]any{"iat": at(5 * time.Second)}, 5 * time.Second, nil},
		{"a token without sub", map[string]any{"sub": nil}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token with an empty sub", map[string]any{"sub": ""}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token without jti", map[string]any{"jti": nil}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token without exp", map[string]any{"exp": nil}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token without iat", map[string]any{"iat": nil}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token without nbf", map[string]any{"nbf": nil}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token with a numeric exp", map[string]any{"exp": parseNow.Add(time.Hour).Unix()}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token with an exp that is not RFC 3339", map[string]any{"exp": "2030-01-02 04:04:05"}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token whose scope is a list", map[string]any{"scope": []string{"customers"}}, 5 * time.Second, verifier.ErrMissingClaims},
		{"a token without scope", map[string]any{"scope": nil}, 5 * time.Second, nil},
	}
	for _, tt := range tests {
		verdict := "refused"
		if tt.want == nil {
			verdict = "accepted"
		}
		t.Run(tt.name+" is "+verdict, func(t *testing.T) {
			claims := validClaims(parseNow)
			for k, v := range tt.change {
				if v == nil {
					delete(claims, k)
				} else {
					claims[k] = v
				}
			}
			opt := parseOptions()
			opt.Leeway = tt.leeway
			c, err := verifier.Parse(s.sign(t, claims, s.footer()), s.keys(), opt)
			if tt.want == nil {
				if err != nil || c == nil {
					t.Fatalf("Parse = %v, want the claims", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Parse = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
}

func TestParseUsesTheCurrentTimeWithoutOptionsNow(t *testing.T) {
	s := newTestSigner(t)
	opt := verifier.Options{Issuer: "tokend"}
	if _, err := verifier.Parse(s.sign(t, validClaims(time.Now()), s.footer()), s.keys(), opt); err != nil {
		t.Fatalf("a token valid now: %v", err)
	}
	if _, err := verifier.Parse(s.sign(t, validClaims(time.Now().Add(-2*time.Hour)), s.footer()), s.keys(), opt); !errors.Is(err, verifier.ErrExpired) {
		t.Fatalf("a token expired an hour ago: %v, want %v", err, verifier.ErrExpired)
	}
}

func TestMissingScopes(t *testing.T) {
	tests := []struct {
		name     string
		scope    string
		required []string
		missing  []string
	}{
		{"nothing required is never missing", "customers", nil, nil},
		{"nothing required of an empty scope", "", nil, nil},
		{"a held scope is not missing", "customers accounts", []string{"accounts"}, nil},
		{"every held scope together is not missing", "customers accounts cards", []string{"cards", "customers"}, nil},
		{"an unheld scope is missing", "customers", []string{"customers", "accounts"}, []string{"accounts"}},
		{"missing scopes keep the order required", "customers", []string{"cards", "customers", "accounts"}, []string{"cards", "accounts"}},
		{"an empty scope misses everything", "", []string{"customers"}, []string{"customers"}},
		{"a scope only prefixing a held one is missing", "customers-write", []string{"customers"}, []string{"customers"}},
		{"a held scope that prefixes the required one does not count", "customers", []string{"customers-write"}, []string{"customers-write"}},
		{"extra white space in the list is tolerated", "  customers\taccounts ", []string{"accounts", "customers"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifier.MissingScopes(tt.scope, tt.required)
			if !reflect.DeepEqual(got, tt.missing) {
				t.Fatalf("MissingScopes(%q, %q) = %q, want %q", tt.scope, tt.required, got, tt.missing)
			}
			c := &verifier.Claims{Scope: tt.scope}
			if has := c.HasScopes(tt.required...); has != (len(tt.missing) == 0) {
				t.Fatalf("HasScopes(%q) with scope %q = %v, want %v", tt.required, tt.scope, has, len(tt.missing) == 0)
			}
		})
	}
}
