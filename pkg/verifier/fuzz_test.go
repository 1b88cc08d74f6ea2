package verifier

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tokend/tokend/pkg/paserk"
)

// The fuzz targets of the token's parsers. Each compares a hand-written
// fast path with encoding/json or a plain PASETO encoder, so they check
// more than "no panic": what one accepts, the other reads alike.
// scripts/fuzz.sh runs every target of the repository for a while.

// FuzzDecodeClaims checks the claims scanner against encoding/json: every
// input it reads, encoding/json reads to the same claims, and decodeClaims
// fails exactly when encoding/json does.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{"iss":"tokend","sub":"u","jti":"t","iat":"2026-12-01T10:00:00Z","nbf":"2026-12-01T10:00:00Z","exp":"2027-12-01T10:00:00Z","scope":"customers accounts"}`,
		`{"iss":"tokend","sourceIp":"10.0.0.0/8,192.168.1.1","scope":"a"}`,
		` { "iss" : "x" , "ISS" : "y" } `,
		`{"iss":"a","iss":"b"}`,
		`{"exp":"2027-12-01T10:00:00.123456789+02:00"}`,
		`{"exp":"2027-12-01T10:00:00,5Z"}`,
		`{"scope":"caf\u00e9"}`,
		`{"resources":[{"type":"account","ids":["1"]}]}`,
		`{}`, `{`, `[]`, `null`, `{"iss":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast Claims
		if decodePlainClaims(s, &fast) {
			var std Claims
			if err := json.Unmarshal([]byte(s), &std); err != nil {
				t.Fatalf("the scanner read %q, encoding/json refuses it: %v", s, err)
			}
			if !reflect.DeepEqual(fast, std) {
				t.Fatalf("the scanner read %q as %+v, encoding/json as %+v", s, fast, std)
			}
		}
		var got, std Claims
		err := decodeClaims(s, &got)
		stdErr := json.Unmarshal([]byte(s), &std)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("decodeClaims(%q) = %v, encoding/json %v", s, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, std) {
			t.Fatalf("decodeClaims(%q) = %+v, encoding/json %+v", s, got, std)
		}
	})
}

// FuzzFooterKID checks the footer's fast path against encoding/json.
func FuzzFooterKID(f *testing.F) {
	for _, s := range []string{
		`{"kid":"k2.pid.AAAA"}`, `{"kid":""}`, `{"KID":"x"}`, `{"kid":"a\"b"}`,
		`{"kid":"x","kid":"y"}`, `{"kid":"é"}`, ` {"kid":"x"}`, `{}`, ``, `{"kid":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, footer string) {
		kid, err := footerKID(footer)
		var ft Footer
		stdErr := json.Unmarshal([]byte(footer), &ft)
		switch {
		case err == nil && (stdErr != nil || ft.KeyID != kid):
			t.Fatalf("footerKID(%q) = %q; encoding/json gives %q, %v", footer, kid, ft.KeyID, stdErr)
		case err != nil && stdErr == nil && ft.KeyID != "":
			t.Fatalf("footerKID(%q) failed (%v); encoding/json reads kid %q", footer, err, ft.KeyID)
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("footerKID(%q) = %v, want ErrMalformed", footer, err)
		}
	})
}

// fuzzKey signs the tokens of FuzzVerifyToken: a fixed key, so that a
// failure found by the fuzzer reproduces.
var fuzzKey = ed25519.NewKeyFromSeed([]byte("tokend fuzz key, 32 bytes long!!"))

// fuzzKeys is the key set holding fuzzKey under its PASERK id.
type fuzzKeys struct{}

func (fuzzKeys) PublicKey(kid string) (ed25519.PublicKey, bool) {
	if kid != paserk.PublicID(fuzzKey.Public().(ed25519.PublicKey)) {
		return nil, false
	}
	return fuzzKey.Public().(ed25519.PublicKey), true
}

// signV2 makes a v2.public token of message and footer as the PASETO
// specification spells it, independently of the code under test.
func signV2(message, footer string) string {
	le := func(n int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }
	pae := le(3)
	for _, p := range []string{Prefix, message, footer} {
		pae = append(append(pae, le(len(p))...), p...)
	}
	sig := ed25519.Sign(fuzzKey, pae)
	enc := base64.RawURLEncoding
	return Prefix + enc.EncodeToString(append([]byte(message), sig...)) + "." + enc.EncodeToString([]byte(footer))
}

// FuzzVerifyToken signs fuzzed claims and footers for real and checks the
// verifier: it accepts a token exactly when its footer names the key and
// its claims decode, reads the claims as encoding/json does, and refuses
// the token once any one of its characters is changed: a token has one
// spelling (strict base64url, no padding).
func FuzzVerifyToken(f *testing.F) {
	kid := paserk.PublicID(fuzzKey.Public().(ed25519.PublicKey))
	claims := `{"iss":"tokend","sub":"u","jti":"t","iat":"2026-12-01T10:00:00Z","nbf":"2026-12-01T10:00:00Z","exp":"2027-12-01T10:00:00Z","scope":"customers"}`
	f.Add(claims, `{"kid":"`+kid+`"}`, 0, byte('A'))
	f.Add(claims, `{"kid":"`+kid+`"}`, 200, byte('_'))
	f.Add(`{"resources":[{"type":"account","ids":["1"]}],"scope":"a"}`, `{"kid":"`+kid+`","x":1}`, 5, byte('.'))
	f.Add(claims, `{"kid":"k2.pid.unknown"}`, 0, byte('v'))
	f.Fuzz(func(t *testing.T, message, footer string, at int, with byte) {
		if footer == "" {
			return // a footer is required; tokens without one are refused elsewhere
		}
		token := signV2(message, footer)
		e, err := verifyToken(token, fuzzKeys{})

		var std Claims
		stdErr := json.Unmarshal([]byte(message), &std)
		var ft Footer
		footerOK := json.Unmarshal([]byte(footer), &ft) == nil && ft.KeyID == kid
		switch {
		case len(token) > MaxTokenLength:
			if err == nil {
				t.Fatalf("a token of %d bytes was accepted", len(token))
			}
		case footerOK && stdErr == nil:
			if err != nil {
				t.Fatalf("a token of claims %q and footer %q was refused: %v", message, footer, err)
			}
			if !reflect.DeepEqual(e.claims, std) {
				t.Fatalf("claims %q read as %+v, encoding/json gives %+v", message, e.claims, std)
			}
		default:
			if err == nil {
				t.Fatalf("claims %q (%v) with footer %q (kid %q) were accepted", message, stdErr, footer, ft.KeyID)
			}
		}
		if err != nil || len(token) == 0 {
			return
		}
		i := at % len(token)
		if i < 0 {
			i += len(token)
		}
		if token[i] == with {
			return
		}
		tampered := token[:i] + string(with) + token[i+1:]
		if _, err := verifyToken(tampered, fuzzKeys{}); err == nil {
			t.Fatalf("%q with byte %d changed to %q was accepted", token, i, with)
		}
	})
}
