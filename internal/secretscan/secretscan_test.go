package secretscan_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secretscan"
)

// publicPEM returns the PEM PUBLIC KEY block of a public key.
func publicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyList returns a key list document with the keys, by id.
func keyList(t testing.TB, keys map[string]string) []byte {
	t.Helper()
	var doc secretscan.KeyList
	for id, k := range keys {
		doc.PublicKeys = append(doc.PublicKeys, secretscan.PublicKey{KeyIdentifier: id, Key: k})
	}
	b, _ := json.Marshal(doc)
	return b
}

func sign(t *testing.T, priv *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, keyList(t, map[string]string{"k1": publicPEM(t, &priv.PublicKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := secretscan.LoadKeys(path)
	if err != nil || keys.Len() != 1 {
		t.Fatalf("LoadKeys = %v, %v", keys, err)
	}
	body := []byte(`[{"token":"x","type":"t","url":"","source":"content"}]`)
	for _, tc := range []struct {
		name, id, sig string
		want          error
	}{
		{"a signature by the listed key verifies", "k1", sign(t, priv, body), nil},
		{"no signature", "k1", "", secretscan.ErrUnsigned},
		{"no key id", "", sign(t, priv, body), secretscan.ErrUnsigned},
		{"a key not listed", "k2", sign(t, priv, body), secretscan.ErrUnknownKey},
		{"another key's signature", "k1", sign(t, other, body), secretscan.ErrSignature},
		{"the signature of another body", "k1", sign(t, priv, append(body, ' ')), secretscan.ErrSignature},
		{"a signature that is not base64", "k1", "%%%", secretscan.ErrSignature},
		{"a signature that is not ASN.1", "k1", base64.StdEncoding.EncodeToString([]byte("not a signature")), secretscan.ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := keys.Verify(tc.id, tc.sig, body); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseKeysRefusesWhatIsNotAP256KeyList(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, data := range map[string][]byte{
		"not JSON":         []byte("public_keys"),
		"no key":           []byte(`{"public_keys":[]}`),
		"a key without id": keyList(t, map[string]string{"": publicPEM(t, &p256.PublicKey)}),
		"not PEM":          keyList(t, map[string]string{"k": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}),
		"a P-384 key":      keyList(t, map[string]string{"k": publicPEM(t, &p384.PublicKey)}),
		"an Ed25519 key":   keyList(t, map[string]string{"k": publicPEM(t, edPub)}),
	} {
		if _, err := secretscan.ParseKeys(data); err == nil {
			t.Errorf("ParseKeys accepted %s", name)
		}
	}
	if _, err := secretscan.LoadKeys(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadKeys accepted a missing file")
	}
}

func TestParseReports(t *testing.T) {
	got, err := secretscan.ParseReports([]byte(`[{"token":"a","type":"t","url":"https://x","source":"commit","new":1},{"token":"b","type":"t"}]`))
	want := []secretscan.Report{{Token: "a", Type: "t", URL: "https://x", Source: "commit"}, {Token: "b", Type: "t"}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseReports = %+v, %v; want %+v", got, err, want)
	}
	for _, body := range []string{
		`{}`, `[]`, `null`, `[1]`, `[null]`, `[{"type":"t"}]`, `[{"token":"","type":"t"}]`, `[{"token":"a"}]`,
		`[{"token":"a","type":"t","url":5}]`, `[{"token":"a","type":"t"}] x`, "[" + strings.Repeat(`{"token":"a","type":"t"},`, 1000) + `{"token":"a","type":"t"}]`,
	} {
		var fe *secretscan.FormatError
		if _, err := secretscan.ParseReports([]byte(body)); !errors.As(err, &fe) || fe.Detail == "" {
			t.Errorf("ParseReports(%.40s…) = %v, want a FormatError", body, err)
		}
	}
}
