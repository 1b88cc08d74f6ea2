// Package secretscan speaks GitHub's secret scanning partner program: it
// reads the keys GitHub signs its reports with, in the format of
// https://api.github.com/meta/public_keys/secret_scanning, verifies a
// report's signature (ECDSA P-256 with SHA-256 over the raw body, in ASN.1
// DER and base64, in the Github-Public-Key-Signature header, by the key
// the Github-Public-Key-Identifier header names), and reads the report
// and writes the answer GitHub takes as feedback.
//
// It knows nothing of tokens: whether a reported token is one of tokend's
// is the service's to decide.
package secretscan

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// The headers a signed report carries.
const (
	KeyIDHeader     = "Github-Public-Key-Identifier"
	SignatureHeader = "Github-Public-Key-Signature"
)

// TokenPattern is the regular expression that finds tokend tokens in
// text, for registering with a secret scanner: a v2.public token whose
// footer is {"kid":"k2.pid.…"}, which base64url-encodes to a constant
// prefix and a constant length (82 characters, ending in fQ, the encoding
// of the closing "}"). The body, claims and signature, is at least 200
// characters. It makes no false positive that matters: a reported token
// is tokend's only if its signature verifies.
const TokenPattern = `v2\.public\.[A-Za-z0-9_-]{200,}\.eyJraWQiOiJrMi5waWQu[A-Za-z0-9_-]{60}fQ`

// Limits on a report: its body in bytes, and its entries.
const (
	MaxBody    = 1 << 20
	MaxReports = 1000
)

// Errors Verify returns.
var (
	ErrUnsigned   = errors.New("secretscan: the report is not signed")
	ErrUnknownKey = errors.New("secretscan: the report is signed by a key not in the list")
	ErrSignature  = errors.New("secretscan: the report's signature does not verify")
)

// Keys are the public keys reports may be signed with, by key identifier.
type Keys struct {
	keys map[string]*ecdsa.PublicKey
}

// KeyList is the document GitHub's key endpoint answers with, which
// TOKEND_SECRET_SCANNING_KEYS holds.
type KeyList struct {
	PublicKeys []PublicKey `json:"public_keys"`
}

// PublicKey is one key of a KeyList: its id, the PEM "PUBLIC KEY" block of
// an ECDSA P-256 key, and whether GitHub signs with it now.
type PublicKey struct {
	KeyIdentifier string `json:"key_identifier"`
	Key           string `json:"key"`
	IsCurrent     bool   `json:"is_current"`
}

// ParseKeys reads a key list: {"public_keys":[{"key_identifier","key",
// "is_current"}]}, each key a PEM "PUBLIC KEY" block of an ECDSA P-256
// key. Every listed key verifies, current or not: GitHub signs with the
// key it names, and lists the keys it may still name. A list without keys
// is an error, since it would refuse every report.
func ParseKeys(data []byte) (*Keys, error) {
	var list KeyList
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("secretscan: the key list is not JSON of the form {\"public_keys\":[…]}: %w", err)
	}
	k := &Keys{keys: map[string]*ecdsa.PublicKey{}}
	for i, e := range list.PublicKeys {
		if e.KeyIdentifier == "" {
			return nil, fmt.Errorf("secretscan: key %d has no key_identifier", i)
		}
		pub, err := parsePublicKey(e.Key)
		if err != nil {
			return nil, fmt.Errorf("secretscan: key %s: %w", e.KeyIdentifier, err)
		}
		k.keys[e.KeyIdentifier] = pub
	}
	if len(k.keys) == 0 {
		return nil, errors.New("secretscan: the key list holds no key")
	}
	return k, nil
}

func parsePublicKey(s string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}

// LoadKeys reads the key list in the file at path.
func LoadKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretscan: read the key list: %w", err)
	}
	return ParseKeys(data)
}

// Len returns how many keys there are.
func (k *Keys) Len() int { return len(k.keys) }

// Verify checks that signature, base64 of an ASN.1 ECDSA signature, signs
// the SHA-256 of body with the key keyID names. It returns ErrUnsigned
// when either header is empty, ErrUnknownKey for a key not listed, and
// ErrSignature for a signature that does not verify.
func (k *Keys) Verify(keyID, signature string, body []byte) error {
	if keyID == "" || signature == "" {
		return ErrUnsigned
	}
	pub, ok := k.keys[keyID]
	if !ok {
		return ErrUnknownKey
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrSignature
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return ErrSignature
	}
	return nil
}

// Report is one match of a report: the token found, the type of secret
// it was found as (the name tokend registered with GitHub), the public URL
// where it was found (may be empty) and where on GitHub (content, commit,
// issue_comment…).
type Report struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// FormatError is a report that is not in the partner program's format;
// its message says what is wrong.
type FormatError struct{ Detail string }

func (e *FormatError) Error() string { return e.Detail }

// ParseReports reads a report's body: a JSON array of 1 to MaxReports
// objects with a non-empty string token, a string type, and optionally
// string url and source. Members the format may grow are ignored.
func ParseReports(body []byte) ([]Report, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw []map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, &FormatError{"The body must be a JSON array of matches, such as [{\"token\":\"…\",\"type\":\"…\",\"url\":\"…\",\"source\":\"…\"}]."}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FormatError{"The body has data after the JSON array."}
	}
	if len(raw) == 0 || len(raw) > MaxReports {
		return nil, &FormatError{fmt.Sprintf("A report holds 1 to %d matches; this one holds %d.", MaxReports, len(raw))}
	}
	out := make([]Report, len(raw))
	for i, m := range raw {
		str := func(name string, required bool) (string, error) {
			v, ok := m[name]
			var s string
			if ok && json.Unmarshal(v, &s) != nil {
				return "", &FormatError{fmt.Sprintf("Match %d: %s must be a string.", i, name)}
			}
			if required && s == "" {
				return "", &FormatError{fmt.Sprintf("Match %d: %s is required.", i, name)}
			}
			return s, nil
		}
		if m == nil {
			return nil, &FormatError{fmt.Sprintf("Match %d must be an object.", i)}
		}
		var err error
		r := &out[i]
		if r.Token, err = str("token", true); err != nil {
			return nil, err
		}
		if r.Type, err = str("type", true); err != nil {
			return nil, err
		}
		if r.URL, err = str("url", false); err != nil {
			return nil, err
		}
		if r.Source, err = str("source", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// The labels of an answer.
const (
	TruePositive  = "true_positive"
	FalsePositive = "false_positive"
)

// Answer is the feedback on one match, in the order of the report: the
// token as reported, its type, and whether it is a real credential.
type Answer struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}
