package secretscan_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tokend/tokend/internal/secretscan"
)

// FuzzParseReports checks the parser of secret scanning reports: what it
// accepts is 1 to MaxReports matches, each with a token and a type, and
// the matches written out again read back the same.
func FuzzParseReports(f *testing.F) {
	for _, s := range []string{
		`[{"token":"v2.public.x","type":"tokend_api_token","url":"https://github.com/o/r/blob/x/f","source":"content"}]`,
		`[{"token":"a","type":"b","extra":{"nested":[1,2]}}]`,
		`[{"token":"a"}]`, `[]`, `[null]`, `[{"token":1,"type":"b"}]`, `{"token":"a"}`, `[{"token":"a","type":"b"}] x`,
		`[{"token":"\u0000","type":"\ud800"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reports, err := secretscan.ParseReports(body)
		if err != nil {
			if reports != nil {
				t.Fatalf("ParseReports failed (%v) and returned matches", err)
			}
			return
		}
		if len(reports) == 0 || len(reports) > secretscan.MaxReports {
			t.Fatalf("ParseReports accepted %d matches", len(reports))
		}
		for i, r := range reports {
			if r.Token == "" || r.Type == "" {
				t.Fatalf("match %d of %q accepted without a token or a type: %+v", i, body, r)
			}
		}
		again, err := json.Marshal(reports)
		if err != nil {
			t.Fatal(err)
		}
		back, err := secretscan.ParseReports(again)
		if err != nil || !reflect.DeepEqual(back, reports) {
			t.Fatalf("%q read as %+v, written as %s, reads back as %+v, %v", body, reports, again, back, err)
		}
	})
}

// FuzzVerify checks the signature check of reports with a real key pair:
// a signature verifies only the body it was made for, and no change to
// the key id, the signature or the body passes.
func FuzzVerify(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	keys, err := secretscan.ParseKeys(keyList(f, map[string]string{"k1": publicPEM(f, &priv.PublicKey)}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`[{"token":"a","type":"b"}]`), "k1", 0, byte(0))
	f.Add([]byte(`[]`), "k2", 10, byte('A'))
	f.Fuzz(func(t *testing.T, body []byte, keyID string, at int, with byte) {
		digest := sha256.Sum256(body)
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := base64.StdEncoding.EncodeToString(der)
		err = keys.Verify(keyID, sig, body)
		if (err == nil) != (keyID == "k1") {
			t.Fatalf("Verify with key id %q = %v", keyID, err)
		}
		if keyID != "k1" {
			return
		}
		i := at % len(sig)
		if i < 0 {
			i += len(sig)
		}
		if sig[i] != with {
			tampered := sig[:i] + string(with) + sig[i+1:]
			if b, err := base64.StdEncoding.DecodeString(tampered); err == nil && string(b) == string(der) {
				return // another spelling of the same bytes
			}
			if keys.Verify(keyID, tampered, body) == nil {
				t.Fatalf("a signature with byte %d changed to %q verified", i, with)
			}
		}
		if len(body) > 0 {
			j := at % len(body)
			if j < 0 {
				j += len(body)
			}
			if body[j] != with {
				changed := append([]byte{}, body...)
				changed[j] = with
				if keys.Verify(keyID, sig, changed) == nil {
					t.Fatalf("the signature of %q verified %q", body, changed)
				}
			}
		}
	})
}
