package verifier_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
	"github.com/tokend/tokend/pkg/verifier/echoverifier"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// startSynced starts a verifier that syncs from the tokend every interval.
func startSynced(t *testing.T, srv *tokendtest.Server, interval time.Duration, mutate func(*verifier.Config)) *verifier.Verifier {
	t.Helper()
	v := newSynced(t, srv, func(c *verifier.Config) {
		c.SyncInterval = interval
		if mutate != nil {
			mutate(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go v.Run(ctx)
	return v
}

// newSynced returns a verifier of the tokend's keys and revocations after
// its first sync; later syncs are the test's to make.
func newSynced(t *testing.T, srv *tokendtest.Server, mutate func(*verifier.Config)) *verifier.Verifier {
	t.Helper()
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	cfg := verifier.Config{TokendURL: srv.URL, FeedToken: feed, SyncInterval: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := verifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(context.Background()); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	return v
}

// mustSync syncs the verifier now.
func mustSync(t *testing.T, v *verifier.Verifier) {
	t.Helper()
	if err := v.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// waitClosed waits for ch to be closed, and fails the test if that takes
// unreasonably long: what it waits for has stalled.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("still waiting for %s after 10 s", what)
	}
}

// refusedWithin polls until the verifier refuses the token with want, and
// returns how long it took; it fails the test after limit.
// refusedWithin polls until the verifier refuses the token with want, and
// fails the test after limit. It is for tests of Run, whose syncs follow
// the real clock; other tests call Sync themselves.
func refusedWithin(t *testing.T, v *verifier.Verifier, token string, want error, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		_, err := v.Verify(token, loopback)
		if errors.Is(err, want) {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("token still gets %v after %s, want %v", err, limit, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
func TestSyncedVerifierAppliesChangesAtEachSync(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	clock := newTestClock(time.Now())
	v := newSynced(t, srv, func(c *verifier.Config) {
		c.Now, c.Leeway, c.MaxStaleness = clock.Now, time.Minute, time.Hour
	})
	user := srv.User(apitoken.RoleMember)

	t.Run("a revoked token is refused from the next sync on", func(t *testing.T) {
		tok, id := srv.Mint(user, "customers")
		if _, err := v.Verify(tok, loopback, "customers"); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
		srv.Revoke(user, id)
		mustSync(t, v)
		if _, err := v.Verify(tok, loopback, "customers"); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("after revocation: %v, want %v", err, verifier.ErrRevoked)
		}
	})
	t.Run("a disabled token is refused, and accepted again when enabled", func(t *testing.T) {
		tok, id := srv.Mint(user, "customers")
		setEnabled(t, srv, user, id, false)
		mustSync(t, v)
		if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrDisabled) {
			t.Fatalf("disabled: %v, want %v", err, verifier.ErrDisabled)
		}
		setEnabled(t, srv, user, id, true)
		mustSync(t, v)
		if _, err := v.Verify(tok, loopback); err != nil {
			t.Fatalf("re-enabled: %v", err)
		}
	})
	t.Run("a disabled user's tokens are refused", func(t *testing.T) {
		other := srv.User(apitoken.RoleMember)
		tok, _ := srv.Mint(other, "customers")
		if _, err := srv.Service.SetUserDisabled(context.Background(), other, true); err != nil {
			t.Fatal(err)
		}
		mustSync(t, v)
		if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrDisabled) {
			t.Fatalf("user disabled: %v, want %v", err, verifier.ErrDisabled)
		}
	})
	t.Run("a token whose expiration moved earlier expires then", func(t *testing.T) {
		tok, id := srv.Mint(user, "customers")
		exp := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
		patch(t, srv, user, id, `{"data":{"type":"apiToken","id":"`+id+`","attributes":{"expiration":"`+exp+`"}}}`)
		mustSync(t, v)
		if _, err := v.Verify(tok, loopback); err != nil {
			t.Fatalf("before the new expiration: %v", err)
		}
		clock.Advance(2 * time.Minute)
		if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrExpired) {
			t.Fatalf("after the new expiration: %v, want %v", err, verifier.ErrExpired)
		}
	})
}

func TestRunSyncsEveryInterval(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	v := startSynced(t, srv, 50*time.Millisecond, nil)
	user := srv.User(apitoken.RoleMember)
	tok, id := srv.Mint(user, "customers")
	if _, err := v.Verify(tok, loopback); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	srv.Revoke(user, id)
	refusedWithin(t, v, tok, verifier.ErrRevoked, 10*time.Second)
}
func setEnabled(t *testing.T, srv *tokendtest.Server, user, id string, enabled bool) {
	t.Helper()
	state := "false"
	if enabled {
		state = "true"
	}
	patch(t, srv, user, id, `{"data":{"type":"apiToken","id":"`+id+`","attributes":{"enabled":`+state+`}}}`)
}

func patch(t *testing.T, srv *tokendtest.Server, user, id, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/users/"+user+"/api-tokens/"+id, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.api+json")
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", resp.Status)
	}
}

func TestVerifierChecksScopesOnEveryCall(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	v := newSynced(t, srv, nil)
	tok, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers accounts")

	for i := 0; i < 3; i++ { // the same token, alternating scope sets
		if c, err := v.Verify(tok, loopback, "customers"); err != nil || !c.HasScopes("customers", "accounts") {
			t.Fatalf("customers: %v", err)
		}
		var scopeErr *verifier.ScopeError
		if _, err := v.Verify(tok, loopback, "customers", "payments-write"); !errors.As(err, &scopeErr) ||
			len(scopeErr.Missing) != 1 || scopeErr.Missing[0] != "payments-write" {
			t.Fatalf("payments-write: error = %v, want a ScopeError for payments-write", err)
		}
	}
}

func TestVerifierRefusesWhenStateIsStale(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	tok, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers")

	now := time.Now()
	clock := func() time.Time { return now }
	for _, allow := range []bool{false, true} {
		v, err := verifier.New(verifier.Config{TokendURL: srv.URL, FeedToken: feed, MaxStaleness: 10 * time.Second,
			AllowStale: allow, Now: func() time.Time { return clock() }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrStale) && !allow {
			t.Fatalf("before the first sync: %v, want ErrStale", err)
		}
		if err := v.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tok, loopback); err != nil {
			t.Fatalf("fresh state: %v", err)
		}
		later := now.Add(11 * time.Second)
		clock = func() time.Time { return later }
		_, err = v.Verify(tok, loopback)
		if !allow && !errors.Is(err, verifier.ErrStale) {
			t.Fatalf("stale state: %v, want ErrStale", err)
		}
		if allow && err != nil {
			t.Fatalf("stale state with AllowStale: %v, want acceptance", err)
		}
		clock = func() time.Time { return now }
	}
}

func TestVerifierFollowsKeyRotationAndRetirement(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	clock := newTestClock(time.Now())
	v := newSynced(t, srv, func(c *verifier.Config) { c.Now, c.Leeway = clock.Now, time.Minute })
	user := srv.User(apitoken.RoleMember)
	old, _ := srv.Mint(user, "customers")
	ctx := context.Background()
	keysBefore, _ := srv.Ring.List(ctx)
	if _, err := v.Verify(old, loopback); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}

	if _, err := srv.Ring.Rotate(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	fresh, _ := srv.Mint(user, "customers")
	clock.Advance(2 * time.Second) // past the rate limit of key fetches
	if _, err := v.Verify(fresh, loopback); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("token of the new key before the fetch: %v, want %v", err, verifier.ErrUnknownKey)
	}
	// The fetch may be over already; if it is not, wait for it. Had none
	// started, the token would still be refused below.
	if done := verifier.KeyFetchDone(v); done != nil {
		waitClosed(t, done, "the key fetch")
	}
	if _, err := v.Verify(fresh, loopback); err != nil {
		t.Fatalf("token of the new key after the fetch: %v", err)
	}
	if _, err := v.Verify(old, loopback); err != nil {
		t.Fatalf("token of the retiring key: %v", err)
	}

	// The old token is remembered; retiring its key must refuse it anyway.
	if err := srv.Ring.Retire(ctx, keysBefore[0].ID); err != nil {
		t.Fatal(err)
	}
	// The feed token is signed by the retired key too, so only the keys
	// sync; that is the part under test.
	if err := v.Sync(ctx); err == nil || !strings.Contains(err.Error(), "/revocations: 401") {
		t.Fatalf("Sync = %v, want only the revocation feed to refuse the retired key's token", err)
	}
	if _, err := v.Verify(old, loopback); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("token of the retired key: %v, want %v", err, verifier.ErrUnknownKey)
	}
	if _, err := v.Verify(fresh, loopback); err != nil {
		t.Fatalf("token of the active key after the retirement: %v", err)
	}
}
func TestStaticKeysVerifyWithoutTokend(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	recs, err := srv.Ring.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := verifier.KeysFromPASERK(paserk.EncodePublic(recs[0].PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	tok, id := srv.Mint(srv.User(apitoken.RoleMember), "customers")
	c, err := v.Verify(tok, loopback, "customers")
	if err != nil || c.ID != id {
		t.Fatalf("Verify = %v, %v", c, err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	v2, _ := verifier.New(verifier.Config{Keys: map[string]ed25519.PublicKey{paserk.PublicID(pub): pub}})
	if _, err := v2.Verify(tok, loopback); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("with another key: %v, want ErrUnknownKey", err)
	}
}

func TestMiddlewareRequiresScopes(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	v := newSynced(t, srv, nil)
	user := srv.User(apitoken.RoleMember)
	read, _ := srv.Mint(user, "customers")
	write, _ := srv.Mint(user, "customers customers-write")

	mux := http.NewServeMux()
	mux.Handle("GET /customers", v.RequireScopes("customers")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.FromContext(r.Context())
		w.Write([]byte(c.Subject + " " + c.ID))
	})))
	e := echo.New()
	e.POST("/customers", func(c echo.Context) error {
		claims, _ := echoverifier.Claims(c)
		return c.String(http.StatusCreated, claims.Subject)
	}, echoverifier.RequireScopes(v, "customers-write"))
	for name, h := range map[string]http.Handler{"net/http": mux, "Echo": e} {
		t.Run(name, func(t *testing.T) {
			hs := httptest.NewServer(h)
			defer hs.Close()
			method, path := "GET", "/customers"
			if name == "Echo" {
				method = "POST"
			}
			call := func(token string) *http.Response {
				req, _ := http.NewRequest(method, hs.URL+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			if r := call(""); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="tokend"` {
				t.Fatalf("no token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
			if r := call("v2.public.garbage"); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
			if name == "Echo" {
				r := call(read)
				if r.StatusCode != 403 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="customers-write"`) {
					t.Fatalf("read token on a write route: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
				}
				if r := call(write); r.StatusCode != 201 {
					t.Fatalf("write token: %d", r.StatusCode)
				}
				return
			}
			if r := call(read); r.StatusCode != 200 {
				t.Fatalf("read token: %d", r.StatusCode)
			}
		})
	}
}

func TestVerifierWhenTokendIsUnreachable(t *testing.T) {
	for _, allowStale := range []bool{false, true} {
		name := "refuses every token once the state is too old"
		if allowStale {
			name = "with AllowStale, keeps accepting tokens"
		}
		t.Run(name, func(t *testing.T) {
			srv := tokendtest.Start(t, tokendtest.Options{})
			tok, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers")
			clock := newTestClock(time.Now())
			v := newSynced(t, srv, func(c *verifier.Config) {
				c.Now, c.Leeway = clock.Now, time.Minute
				c.MaxStaleness = 10 * time.Second
				c.AllowStale = allowStale
				c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			})
			srv.Close()
			if _, err := v.Verify(tok, loopback); err != nil {
				t.Fatalf("just after tokend went away: %v", err)
			}
			clock.Advance(5 * time.Second)
			if err := v.Sync(context.Background()); err == nil {
				t.Fatal("Sync with tokend gone reported no error")
			}
			if _, err := v.Verify(tok, loopback); err != nil {
				t.Fatalf("5 s later, within MaxStaleness: %v", err)
			}
			clock.Advance(6 * time.Second)
			_, err := v.Verify(tok, loopback)
			switch {
			case allowStale && err != nil:
				t.Fatalf("stale state with AllowStale: %v", err)
			case !allowStale && !errors.Is(err, verifier.ErrStale):
				t.Fatalf("stale state: %v, want ErrStale", err)
			}
			if !allowStale {
				if _, err := v.Verify("v2.public.garbage", loopback); !errors.Is(err, verifier.ErrStale) {
					t.Fatalf("a malformed token with stale state: %v, want ErrStale", err)
				}
			}
		})
	}
}

// A verifier whose key fetches fail keeps its revocation state in sync.
func TestRevocationSyncDoesNotDependOnKeyFetches(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var keysDown atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keysDown.Load() && r.URL.Path == "/.well-known/paseto-keys" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	user := srv.User(apitoken.RoleMember)
	tok, id := srv.Mint(user, "customers")
	v, err := verifier.New(verifier.Config{TokendURL: front.URL, FeedToken: feed,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := v.SyncedAt()
	if before.IsZero() {
		t.Fatal("SyncedAt is zero after a sync")
	}

	keysDown.Store(true)
	srv.Revoke(user, id)
	if err := v.Sync(context.Background()); err == nil {
		t.Fatal("Sync hid the failed key fetch")
	}
	if !v.SyncedAt().After(before) {
		t.Fatal("a failed key fetch stopped the revocation sync")
	}
	if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("Verify = %v, want ErrRevoked", err)
	}
}
