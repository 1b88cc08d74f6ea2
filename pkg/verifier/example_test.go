package verifier_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// exampleToken signs a token the way tokend does, so that the examples run
// without a tokend. Real tokens come from tokend's API or command line.
func exampleToken(priv ed25519.PrivateKey, scope string) string {
	kid := paserk.PublicID(priv.Public().(ed25519.PublicKey))
	now := time.Now().UTC().Truncate(time.Second)
	claims, _ := json.Marshal(verifier.Claims{
		Issuer: "tokend", Subject: "0193a6c2-59e1-7b0e-8c2f-3e1f4c8d9a10", ID: "0193a6c3-0a44-7d2e-9b51-6f0e2a7c1d88",
		IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour), Scope: scope,
	})
	footer, _ := json.Marshal(verifier.Footer{KeyID: kid})
	tok, _ := paseto.NewTokenFromClaimsJSON(claims, footer)
	sk, _ := paseto.NewV2AsymmetricSecretKeyFromEd25519(priv)
	return tok.V2Sign(sk)
}

// A verifier with static keys checks tokens with no tokend to talk to; it
// knows no revocations. The keys are the PASERK strings tokend publishes at
// /.well-known/paseto-keys.
func ExampleVerifier_Verify() {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	published := paserk.EncodePublic(priv.Public().(ed25519.PublicKey))
	token := exampleToken(priv, "customers accounts")

	keys, err := verifier.KeysFromPASERK(published)
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.10")

	claims, err := v.Verify(token, client, "customers")
	fmt.Println(claims.Subject, claims.Scopes(), err)

	_, err = v.Verify(token, client, "payments-write")
	fmt.Println(err)
	// Output:
	// 0193a6c2-59e1-7b0e-8c2f-3e1f4c8d9a10 [customers accounts] <nil>
	// token lacks scope payments-write
}

// RequireScopes guards net/http handlers; the handler reads the token's
// claims from the request's context.
func ExampleVerifier_RequireScopes() {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	keys, _ := verifier.KeysFromPASERK(paserk.EncodePublic(priv.Public().(ed25519.PublicKey)))
	v, _ := verifier.New(verifier.Config{Keys: keys})

	mux := http.NewServeMux()
	mux.Handle("POST /payments", v.RequireScopes("payments-write")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			c, _ := verifier.FromContext(r.Context())
			fmt.Fprintf(w, "payment by %s", c.Subject)
		})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, scope := range []string{"payments-write", "customers"} {
		req, _ := http.NewRequest("POST", srv.URL+"/payments", nil)
		req.Header.Set("Authorization", "Bearer "+exampleToken(priv, scope))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(scope, resp.StatusCode)
		if c := resp.Header.Get("WWW-Authenticate"); c != "" {
			fmt.Println(c)
		}
	}
	// Output:
	// payments-write 200
	// customers 403
	// Bearer realm="tokend", error="insufficient_scope", scope="payments-write"
}

// A downstream service usually fetches tokend's keys and keeps its
// revocations in sync: revoking, disabling or shortening a token at tokend
// reaches the verifier within SyncInterval.
func ExampleNew_synced() {
	v, err := verifier.New(verifier.Config{
		TokendURL:    "https://tokens.example.com",
		FeedToken:    os.Getenv("TOKEND_FEED_TOKEN"), // a token holding the introspect scope
		SyncInterval: 5 * time.Second,
		MaxStaleness: 30 * time.Second, // refuse every token once tokend is out of reach that long
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Sync(ctx); err != nil { // the first sync, before serving
		log.Fatal(err)
	}
	go v.Run(ctx)

	http.Handle("GET /customers", v.RequireScopes("customers")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			c, _ := verifier.FromContext(r.Context())
			fmt.Fprintln(w, "customers for", c.Subject)
		})))
}
