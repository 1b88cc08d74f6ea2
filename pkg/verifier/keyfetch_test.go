package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// keyServer stands in for tokend's /.well-known/paseto-keys: it serves the
// keys of the signers it is given, and holds requests while it is blocked.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu      sync.Mutex
	signers []*testSigner
	gate    chan struct{} // while open (not closed), requests wait
	arrived chan struct{} // receives once a request is held
}

func startKeyServer(t *testing.T, signers ...*testSigner) *keyServer {
	t.Helper()
	ks := &keyServer{signers: signers}
	ks.Server = httptest.NewServer(http.HandlerFunc(ks.serve))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/paseto-keys" {
		http.NotFound(w, r)
		return
	}
	ks.fetches.Add(1)
	ks.mu.Lock()
	gate, arrived := ks.gate, ks.arrived
	ks.mu.Unlock()
	if gate != nil {
		arrived <- struct{}{}
		<-gate
	}
	type key struct {
		KID    string `json:"kid"`
		PASERK string `json:"paserk"`
		Status string `json:"status"`
	}
	doc := struct {
		Issuer string `json:"issuer"`
		Keys   []key  `json:"keys"`
	}{Issuer: "tokend"}
	ks.mu.Lock()
	for _, s := range ks.signers {
		doc.Keys = append(doc.Keys, key{s.kid, paserk.EncodePublic(s.pub), "active"})
	}
	ks.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// serveKeys makes the server list the signers' keys from now on.
func (ks *keyServer) serveKeys(signers ...*testSigner) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.signers = signers
}

// block makes requests wait until release is called; arrived receives
// once for each request held.
func (ks *keyServer) block() (arrived <-chan struct{}, release func()) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	gate, ch := make(chan struct{}), make(chan struct{}, 100)
	ks.gate, ks.arrived = gate, ch
	var once sync.Once
	return ch, func() { once.Do(func() { close(gate) }) }
}

// receiveOnce returns a channel closed once ch has delivered a value.
func receiveOnce(ch <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() { <-ch; close(done) }()
	return done
}

// newFetchingVerifier returns a verifier of the key server's keys, on
// clock, after its first sync.
func newFetchingVerifier(t *testing.T, ks *keyServer, clock *testClock) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{TokendURL: ks.URL, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUnknownKeyIsRefusedAtOnceAndFetchedInTheBackground(t *testing.T) {
	known, rotated := newTestSigner(t), newTestSigner(t)
	ks := startKeyServer(t, known)
	clock := newTestClock(parseNow)
	v := newFetchingVerifier(t, ks, clock)
	if _, err := v.Verify(known.sign(t, validClaims(parseNow), known.footer()), loopback); err != nil {
		t.Fatalf("token of the known key: %v", err)
	}
	before := ks.fetches.Load()

	// tokend rotates its key; its key list now answers only when released.
	ks.serveKeys(known, rotated)
	arrived, release := ks.block()
	defer release()
	clock.Advance(2 * time.Second)

	const calls = 20
	tokens := make([]string, calls)
	for i := range tokens {
		claims := validClaims(parseNow)
		claims["jti"] = "token-" + string(rune('a'+i))
		tokens[i] = rotated.sign(t, claims, rotated.footer())
	}
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(tok, loopback)
			errs <- err
		}()
	}
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	waitClosed(t, returned, "Verify calls while the key fetch is held: they waited for it")
	close(errs)
	for err := range errs {
		if !errors.Is(err, verifier.ErrUnknownKey) {
			t.Errorf("Verify during the fetch = %v, want %v", err, verifier.ErrUnknownKey)
		}
	}

	waitClosed(t, receiveOnce(arrived), "a fetch of the keys to reach tokend")
	done := verifier.KeyFetchDone(v)
	if done == nil {
		t.Fatal("no key fetch under way while tokend holds one")
	}
	if n := ks.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches of the keys for %d tokens of an unknown key, want 1", n, calls)
	}
	release()
	waitClosed(t, done, "the key fetch after its release")

	for _, tok := range tokens[:3] {
		if _, err := v.Verify(tok, loopback); err != nil {
			t.Fatalf("token of the rotated key after the fetch: %v", err)
		}
	}
	if n := ks.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches of the keys in all, want 1", n)
	}
}

func TestKeyFetchesForUnknownKeysAreRateLimited(t *testing.T) {
	known, rotated, stranger := newTestSigner(t), newTestSigner(t), newTestSigner(t)
	ks := startKeyServer(t, known)
	clock := newTestClock(parseNow)
	v := newFetchingVerifier(t, ks, clock) // fetches the keys at parseNow
	ks.serveKeys(known, rotated)
	tok := rotated.sign(t, validClaims(parseNow), rotated.footer())
	before := ks.fetches.Load()

	verifyUnknown := func(tok string) {
		t.Helper()
		if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("Verify = %v, want %v", err, verifier.ErrUnknownKey)
		}
	}
	t.Run("within a second of the last fetch, none starts", func(t *testing.T) {
		clock.Advance(999 * time.Millisecond)
		verifyUnknown(tok)
		if verifier.KeyFetchDone(v) != nil || ks.fetches.Load() != before {
			t.Fatalf("a fetch started %s after the last one", 999*time.Millisecond)
		}
	})
	t.Run("a second after the last fetch, one starts", func(t *testing.T) {
		arrived, release := ks.block()
		defer release()
		clock.Advance(time.Millisecond)
		verifyUnknown(tok)
		waitClosed(t, receiveOnce(arrived), "the fetch to reach tokend")
		done := verifier.KeyFetchDone(v)
		if done == nil {
			t.Fatal("no fetch under way while tokend holds one")
		}
		release()
		waitClosed(t, done, "the key fetch")
		if n := ks.fetches.Load() - before; n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
		if _, err := v.Verify(tok, loopback); err != nil {
			t.Fatalf("token of the fetched key: %v", err)
		}
	})
	t.Run("a key tokend does not have either waits for the next second", func(t *testing.T) {
		verifyUnknown(stranger.sign(t, validClaims(parseNow), stranger.footer()))
		if verifier.KeyFetchDone(v) != nil || ks.fetches.Load()-before != 1 {
			t.Fatal("a fetch started right after the last one")
		}
	})
	t.Run("a key id that is not a PASERK id never starts a fetch", func(t *testing.T) {
		clock.Advance(time.Hour)
		verifyUnknown(stranger.sign(t, validClaims(parseNow.Add(time.Hour)), `{"kid":"key-1"}`))
		if verifier.KeyFetchDone(v) != nil || ks.fetches.Load()-before != 1 {
			t.Fatal("a kid without the k2.pid. prefix started a fetch")
		}
	})
}

func TestStaticKeysNeverFetch(t *testing.T) {
	known, other := newTestSigner(t), newTestSigner(t)
	v, err := verifier.New(verifier.Config{Keys: known.keys(), Now: func() time.Time { return parseNow }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(other.sign(t, validClaims(parseNow), other.footer()), loopback); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("Verify = %v, want %v", err, verifier.ErrUnknownKey)
	}
	if verifier.KeyFetchDone(v) != nil {
		t.Fatal("a verifier with static keys started a fetch")
	}
}
