package verifier_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// benchToken returns a real tokend token and the key that verifies it.
func benchToken(b *testing.B) (string, ed25519.PublicKey) {
	b.Helper()
	srv := tokendtest.Start(b, tokendtest.Options{})
	tok, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers accounts payments-write")
	recs, err := srv.Ring.List(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return tok, recs[0].PublicKey
}

// signedMessage returns what a v2.public signature covers, PAE(header,
// message, footer), and the signature, so that the baseline verifies
// exactly the bytes Verify does.
func signedMessage(b *testing.B, token string) ([]byte, []byte) {
	b.Helper()
	parts := strings.Split(token, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		b.Fatal(err)
	}
	footer, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		b.Fatal(err)
	}
	msg, sig := body[:len(body)-ed25519.SignatureSize], body[len(body)-ed25519.SignatureSize:]
	pae := binary.LittleEndian.AppendUint64(nil, 3)
	for _, piece := range [][]byte{[]byte("v2.public."), msg, footer} {
		pae = binary.LittleEndian.AppendUint64(pae, uint64(len(piece)))
		pae = append(pae, piece...)
	}
	return pae, sig
}

// benchTokens returns n distinct tokens signed by tokend's key ring, with
// the claims tokend's service writes, and the key that verifies them.
func benchTokens(b *testing.B, n int) ([]string, ed25519.PublicKey) {
	b.Helper()
	srv := tokendtest.Start(b, tokendtest.Options{})
	user := srv.User(apitoken.RoleMember)
	now := time.Now().UTC()
	ctx := context.Background()
	toks := make([]string, n)
	for i := range toks {
		tok, _, err := srv.Ring.Sign(ctx, verifier.Claims{
			Issuer: "tokend", Subject: user, ID: uuid.Must(uuid.NewV7()).String(),
			IssuedAt: now, NotBefore: now, Expiration: now.Add(24 * time.Hour),
			Scope: "customers accounts payments-write",
		})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	recs, err := srv.Ring.List(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return toks, recs[0].PublicKey
}

// BenchmarkVerify measures offline verification of a token never seen
// before, with scope checks: every iteration verifies another token, so
// the memo never answers but is looked up and filled as in service.
// Compare it with BenchmarkEd25519Verify from the same run: the
// difference is what the token format, claims, checks and memo cost.
func BenchmarkVerify(b *testing.B) {
	toks, pub := benchTokens(b, b.N)
	v, err := verifier.New(verifier.Config{Keys: map[string]ed25519.PublicKey{paserk.PublicID(pub): pub}})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(toks[i], ip, "customers", "payments-write"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHot measures Verify of a token seen before: the memo
// spares the signature check, and everything else is checked again.
func BenchmarkVerifyHot(b *testing.B) {
	tok, pub := benchToken(b)
	v, err := verifier.New(verifier.Config{Keys: map[string]ed25519.PublicKey{paserk.PublicID(pub): pub}})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.1")
	if _, err := v.Verify(tok, ip, "customers", "payments-write"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(tok, ip, "customers", "payments-write"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySynced is BenchmarkVerifyHot with revocation state kept
// in sync from tokend, as downstream services run it.
func BenchmarkVerifySynced(b *testing.B) {
	srv := tokendtest.Start(b, tokendtest.Options{})
	tok, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers accounts payments-write")
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	v, err := verifier.New(verifier.Config{TokendURL: srv.URL, FeedToken: feed, SyncInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(tok, ip, "customers", "payments-write"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the baseline: crypto/ed25519 verifying the
// same signed message as BenchmarkVerify, and nothing else.
func BenchmarkEd25519Verify(b *testing.B) {
	tok, pub := benchToken(b)
	msg, sig := signedMessage(b, tok)
	if !ed25519.Verify(pub, msg, sig) {
		b.Fatal("the baseline does not verify the token's signature")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature invalid")
		}
	}
}
