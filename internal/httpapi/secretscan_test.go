package httpapi_test

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
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/secretscan"
	"github.com/tokend/tokend/pkg/verifier"
)

// scanKey is a key pair GitHub would sign reports with, and its id.
type scanKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newScanKey(t testing.TB, id string) scanKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return scanKey{id: id, priv: priv}
}

// writeScanKeys writes the keys' public halves as GitHub's
// /meta/public_keys/secret_scanning answers, and returns the file's path.
func writeScanKeys(t testing.TB, keys ...scanKey) string {
	t.Helper()
	var list secretscan.KeyList
	for i, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		list.PublicKeys = append(list.PublicKeys, secretscan.PublicKey{KeyIdentifier: k.id, Key: pemKey, IsCurrent: i == 0})
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secret_scanning.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sign returns the headers of a report body signed with the key, as GitHub
// sends them.
func (k scanKey) sign(t testing.TB, body []byte) http.Header {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{secretscan.KeyIDHeader: {k.id}, secretscan.SignatureHeader: {base64.StdEncoding.EncodeToString(sig)}}
}

// match is one match of a report.
type match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// report posts the body to /secret-scanning/reports with the headers.
func (h *harness) report(body []byte, header http.Header) *response {
	return h.do(req{method: "POST", path: "/secret-scanning/reports", body: body, contentType: "application/json", header: header})
}

// labels returns the answer's labels, checking that each echoes its match.
func labels(t *testing.T, r *response, matches []match) []string {
	t.Helper()
	r.expectStatus(t, http.StatusOK, "")
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var answers []secretscan.Answer
	if err := json.Unmarshal(r.Body, &answers); err != nil || len(answers) != len(matches) {
		t.Fatalf("answer %s: %v; want %d answers", r.Body, err, len(matches))
	}
	out := make([]string, len(answers))
	for i, a := range answers {
		if a.TokenRaw != matches[i].Token || a.TokenType != matches[i].Type {
			t.Fatalf("answer %d is %+v, want the match's token and type", i, a)
		}
		out[i] = a.Label
	}
	return out
}

func TestSecretScanningReports(t *testing.T) {
	t.Parallel()
	github := newScanKey(t, "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c")
	retired := newScanKey(t, "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a")
	keys := map[string]string{"TOKEND_SECRET_SCANNING_KEYS": writeScanKeys(t, github, retired)}
	forEachDBWith(t, options{env: keys}, func(t *testing.T, h *harness) {
		t.Parallel()
		member := h.user(apitoken.RoleMember)
		live, liveID := h.mint(member, tokenSpec{scope: "customers"})
		revoked, revokedID := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokenPath(member, revokedID), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		revokedAt := getTokenAttrs(t, h, member, revokedID)["revokedAt"]
		now := h.Clock.Now()
		expired := h.forge(member, verifier.Claims{IssuedAt: now.Add(-2 * time.Hour), NotBefore: now.Add(-2 * time.Hour),
			Expiration: now.Add(-time.Hour).Truncate(time.Second)}, nil)
		purged := signUnstored(t, h, member, verifier.Claims{IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour)})
		_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)
		foreign := signV2(t, foreignKey, &verifier.Claims{Issuer: "tokend", Subject: member, ID: liveID, Scope: "customers",
			IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour)}, footerKID(t, live))
		other, otherID := h.mint(member, tokenSpec{scope: "customers"})

		matches := []match{
			{live, "tokend_api_token", "https://github.com/o/r/blob/c/.env", "content"},
			{revoked, "tokend_api_token", "https://github.com/o/r/commit/c", "commit"},
			{expired, "tokend_api_token", "", "commit"},
			{purged, "tokend_api_token", "", "issue_comment"},
			{foreign, "tokend_api_token", "", "content"},
			{"v2.public.eyJraWQiOiJrMi5waWQuAAAA", "tokend_api_token", "", "content"},
			{live, "tokend_api_token", "https://github.com/o/r/blob/d/other", "content"},
		}
		body, _ := json.Marshal(matches)

		// Refused reports change nothing.
		for _, tc := range []struct {
			name   string
			header http.Header
		}{
			{"an unsigned report", nil},
			{"a report signed by a key not listed", newScanKey(t, "f00d").sign(t, body)},
			{"a report signed by another key under a listed id", scanKey{github.id, retired.priv}.sign(t, body)},
			{"a report whose signature is of another body", github.sign(t, append([]byte(" "), body...))},
			{"a report whose signature is not base64", http.Header{secretscan.KeyIDHeader: {github.id}, secretscan.SignatureHeader: {"%%%"}}},
		} {
			t.Run(tc.name+" is unauthorized", func(t *testing.T) {
				h.on(t).report(body, tc.header).expectStatus(t, http.StatusUnauthorized, "unauthorized")
				if h.authStatus(live) != http.StatusOK {
					t.Fatal("a refused report revoked a token")
				}
			})
		}

		got := labels(t, h.report(body, github.sign(t, body)), matches)
		want := []string{"true_positive", "true_positive", "true_positive", "true_positive", "false_positive", "false_positive", "true_positive"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("labels %v, want %v", got, want)
		}
		if s := h.authStatus(live); s != http.StatusUnauthorized {
			t.Fatalf("the leaked token answers %d, want 401", s)
		}
		a := getTokenAttrs(t, h, member, liveID)
		if a["status"] != "revoked" || a["leakUrl"] != matches[0].URL || a["leakSource"] != "content" || a["leakedAt"] == nil {
			t.Fatalf("the leaked token reads %v: want revoked, leaked at the first match's URL", a)
		}
		if r := getTokenAttrs(t, h, member, revokedID); r["revokedAt"] != revokedAt || r["leakSource"] != "commit" {
			t.Fatalf("the revoked token reads %v: want its revocation kept, and marked leaked", r)
		}
		if h.authStatus(other) != http.StatusOK {
			t.Fatal("a token not reported was revoked")
		}
		// A later report of a leaked token keeps the first.
		again := []match{{live, "tokend_api_token", "https://example.com/later", "npm"}}
		body, _ = json.Marshal(again)
		if got := labels(t, h.report(body, retired.sign(t, body)), again); got[0] != "true_positive" {
			t.Fatalf("label %v", got)
		}
		if b := getTokenAttrs(t, h, member, liveID); b["leakUrl"] != a["leakUrl"] || b["leakedAt"] != a["leakedAt"] {
			t.Fatalf("a second report changed the first: %v", b)
		}
		// The inventory finds the leaked tokens stored: the live, the
		// revoked and the expired one.
		list := h.do(req{method: "GET", path: tokensPath(member) + "?filter[leaked]=true&filter[status]=revoked", token: h.AdminToken})
		if ids := idsOf(list); len(ids) != 3 || pageOf(t, list).total != 3 || slices.Contains(ids, otherID) {
			t.Fatalf("leaked tokens listed: %v", ids)
		}
	})
}

// TestSecretScanningReportsRefuseBadBodies checks that a report that is not
// in the partner program's format, or too large, is refused before any
// token in it is looked at.
func TestSecretScanningReportsRefuseBadBodies(t *testing.T) {
	t.Parallel()
	github := newScanKey(t, "k1")
	h := newHarness(t, options{env: map[string]string{"TOKEND_SECRET_SCANNING_KEYS": writeScanKeys(t, github)}})
	member := h.user(apitoken.RoleMember)
	live, _ := h.mint(member, tokenSpec{scope: "customers"})
	many := make([]match, secretscan.MaxReports+1)
	for i := range many {
		many[i] = match{Token: live, Type: "t"}
	}
	tooMany, _ := json.Marshal(many)
	huge := []byte(`[{"token":"` + strings.Repeat("a", secretscan.MaxBody) + `","type":"t"}]`)
	for _, tc := range []struct {
		name   string
		body   string
		ct     string
		status int
		code   string
	}{
		{"an object", `{"token":"` + live + `","type":"t"}`, "", 400, "invalid_value"},
		{"an empty array", `[]`, "", 400, "invalid_value"},
		{"more than 1000 matches", string(tooMany), "", 400, "invalid_value"},
		{"a match without a token", `[{"type":"t"}]`, "", 400, "invalid_value"},
		{"a token that is not a string", `[{"token":1,"type":"t"}]`, "", 400, "invalid_value"},
		{"a member named twice", `[{"token":"` + live + `","token":"x","type":"t"}]`, "", 400, "invalid_value"},
		{"data after the array", `[{"token":"` + live + `","type":"t"}] []`, "", 400, "invalid_value"},
		{"a body over 1 MiB", string(huge), "", 413, "payload_too_large"},
		{"another media type", `[{"token":"` + live + `","type":"t"}]`, "text/plain", 415, "unsupported_media_type"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			h := h.on(t)
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			r := h.do(req{method: "POST", path: "/secret-scanning/reports", body: tc.body, contentType: ct, header: github.sign(t, []byte(tc.body))})
			r.expectStatus(t, tc.status, tc.code)
			if h.authStatus(live) != http.StatusOK {
				t.Fatal("a refused report revoked a token")
			}
		})
	}
}

// TestSecretScanningReportsWithoutKeys checks the endpoint when no keys are
// configured: anyone may report, as anyone holding a token may revoke it,
// and reports are limited per client address with revocations by value.
func TestSecretScanningReportsWithoutKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{trustedProxies: "127.0.0.1/32", env: map[string]string{"TOKEND_RATE_REVOCATIONS": "2/1m"}})
	h.Clock.Freeze()
	member := h.user(apitoken.RoleMember)
	live, _ := h.mint(member, tokenSpec{scope: "customers"})
	matches := []match{{Token: live, Type: "tokend_api_token", URL: "https://example.com/x", Source: "content"}}
	body, _ := json.Marshal(matches)
	if got := labels(t, h.report(body, fromAddr("203.0.113.9")), matches); got[0] != "true_positive" {
		t.Fatalf("label %v", got)
	}
	if h.authStatus(live) != http.StatusUnauthorized {
		t.Fatal("the reported token still works")
	}
	revokeByValue(h, "garbage", fromAddr("203.0.113.9")).expectStatus(t, http.StatusOK, "")
	expectRateLimited(t, h.report(body, fromAddr("203.0.113.9")), "30")
	labels(t, h.report(body, fromAddr("203.0.113.10")), matches)
}

// TestTokenPatternFindsTokendTokens checks the regular expression the
// README gives scanners against real tokens in text: the shortest tokend
// issues and one with every restriction, and nothing else.
func TestTokenPatternFindsTokendTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{env: map[string]string{"TOKEND_ISSUER": "t"}})
	short, _ := h.mint(h.AdminID, tokenSpec{scope: "users"})
	long, _ := h.mint(h.AdminID, tokenSpec{scope: "customers accounts applications", sourceIP: "10.0.0.0/8,192.0.2.1",
		resources: []apitoken.Resource{{Type: "account", IDs: []string{"1", "2", "3"}}}})
	text := "export TOKEN=" + short + "\n{\"token\":\"" + long + "\"}\nv2.local.abc.eyJraWQiOiJrMi5waWQu\n" +
		strings.TrimSuffix(short, "fQ") + "\n"
	found := regexp.MustCompile(secretscan.TokenPattern).FindAllString(text, -1)
	if strings.Join(found, " ") != short+" "+long {
		t.Fatalf("the pattern finds %q, want the two tokens", found)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), secretscan.TokenPattern) {
		t.Fatal("README.md does not give secretscan.TokenPattern")
	}
}
