package verifier_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tokend/tokend/pkg/verifier"
)

// signRaw returns a v2.public token of exactly the claims bytes given, as
// the PASETO specification builds one, so that tests can sign JSON that
// go-paseto would re-encode: white space, duplicate members, escapes.
func (s *testSigner) signRaw(claims, footer string) string {
	pae := binary.LittleEndian.AppendUint64(nil, 3)
	for _, piece := range []string{verifier.Prefix, claims, footer} {
		pae = binary.LittleEndian.AppendUint64(pae, uint64(len(piece)))
		pae = append(pae, piece...)
	}
	body := append([]byte(claims), ed25519.Sign(s.priv, pae)...)
	return verifier.Prefix + base64.RawURLEncoding.EncodeToString(body) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(footer))
}

// TestParseDecodesClaimsAsEncodingJSONDoes checks that the claims Parse
// returns are those json.Unmarshal gives for the same bytes, whichever of
// Parse's decoders reads them.
func TestParseDecodesClaimsAsEncodingJSONDoes(t *testing.T) {
	const times = `"iat":"2030-01-02T03:03:05Z","nbf":"2030-01-02T03:03:05Z","exp":"2030-01-02T04:04:05Z"`
	const ids = `"iss":"tokend","sub":"user-1","jti":"token-1"`
	tests := []struct{ name, claims string }{
		{"tokend's own claims", `{` + ids + `,` + times + `,"scope":"customers accounts"}`},
		{"tokend's claims with a sourceIp", `{` + ids + `,` + times + `,"scope":"customers","sourceIp":"10.0.0.0/8,2001:db8::1"}`},
		{"claims with white space everywhere", "\n{ \"iss\" : \"tokend\" ,\t\"sub\":\"user-1\",\r\n\"jti\":\"token-1\", " + times + " , \"scope\" : \"customers\" }\n"},
		{"claims in another order", `{"scope":"customers",` + times + `,"jti":"token-1","sub":"user-1","iss":"tokend"}`},
		{"a repeated claim, of which the last counts", `{` + ids + `,` + times + `,"scope":"customers","scope":"payments-write"}`},
		{"a repeated time, of which the last counts", `{` + ids + `,` + times + `,"exp":"2030-01-02T05:04:05Z","scope":"x"}`},
		{"a claim name in capitals, which encoding/json matches", `{"ISS":"tokend","sub":"user-1","jti":"token-1",` + times + `}`},
		{"escapes in a string", `{"iss":"tokend","sub":"user-\u0031\n","jti":"token-1",` + times + `,"scope":"a\/b"}`},
		{"non-ASCII text", `{` + ids + `,` + times + `,"scope":"cafés"}`},
		{"invalid UTF-8", "{" + ids + "," + times + ",\"scope\":\"caf\xe9\"}"},
		{"a control character in a string", "{" + ids + "," + times + ",\"scope\":\"a\tb\"}"},
		{"unknown claims of every kind", `{` + ids + `,` + times + `,"n":1.5e3,"o":{"a":[1,true,null]},"b":false,"scope":"x"}`},
		{"resources", `{` + ids + `,` + times + `,"scope":"x","resources":[{"type":"account","ids":["1","2"]}]}`},
		{"a null issuer", `{"iss":null,"sub":"user-1","jti":"token-1",` + times + `}`},
		{"times with offsets and fractions", `{` + ids + `,"iat":"2030-01-02T04:03:05.25+01:00","nbf":"2030-01-02T03:03:05.000Z","exp":"2030-01-02T04:04:05-00:30"}`},
		{"a time that is not RFC 3339", `{` + ids + `,"iat":"2030-01-02T03:03:05Z","nbf":"2030-01-02T03:03:05Z","exp":"2030-13-02T04:04:05Z"}`},
		{"a time with a one-digit hour", `{` + ids + `,"iat":"2030-01-02T3:03:05Z","nbf":"2030-01-02T03:03:05Z","exp":"2030-01-02T04:04:05Z"}`},
		{"a numeric time", `{` + ids + `,"iat":"2030-01-02T03:03:05Z","nbf":"2030-01-02T03:03:05Z","exp":1893557045}`},
		{"a scope that is a list", `{` + ids + `,` + times + `,"scope":["customers"]}`},
		{"text after the object", `{` + ids + `,` + times + `} x`},
		{"a trailing comma", `{` + ids + `,` + times + `,}`},
		{"a missing comma", `{` + ids + ` ` + times + `}`},
		{"an unterminated object", `{` + ids + `,` + times},
		{"an empty object", `{}`},
		{"an array", `[` + ids + `]`},
		{"a string", `"tokend"`},
	}
	s := newTestSigner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifier.Parse(s.signRaw(tt.claims, s.footer()), s.keys(), parseOptions())

			var want verifier.Claims
			if jsonErr := json.Unmarshal([]byte(tt.claims), &want); jsonErr != nil {
				if !errors.Is(err, verifier.ErrMissingClaims) {
					t.Fatalf("Parse = %+v, %v; encoding/json fails (%v), so want %v", got, err, jsonErr, verifier.ErrMissingClaims)
				}
				return
			}
			if wantErr := want.Check(parseOptions()); wantErr != nil {
				if !errors.Is(err, wantErr) {
					t.Fatalf("Parse = %+v, %v; want %v", got, err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v; want %+v", err, want)
			}
			for _, pair := range [][2]interface{ UnixNano() int64 }{
				{got.IssuedAt, want.IssuedAt}, {got.NotBefore, want.NotBefore}, {got.Expiration, want.Expiration},
			} {
				if pair[0].UnixNano() != pair[1].UnixNano() {
					t.Fatalf("time %v, want %v", pair[0], pair[1])
				}
			}
			got.IssuedAt, got.NotBefore, got.Expiration = want.IssuedAt, want.NotBefore, want.Expiration
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("Parse =\n%+v\nencoding/json =\n%+v", *got, want)
			}
		})
	}
}
