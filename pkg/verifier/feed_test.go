package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/revfeed"
	"github.com/tokend/tokend/pkg/verifier"
)

// feedProxy is a proxy in front of a tokend that may rewrite the feed's
// requests, and records how the feed's answers came.
type feedProxy struct {
	URL string

	mu sync.Mutex
	// pages are the feed's answers, by their Content-Type and
	// Content-Encoding.
	pages map[[2]string]int
}

func newFeedProxy(t *testing.T, srv *tokendtest.Server, rewrite func(r *http.Request)) *feedProxy {
	t.Helper()
	target, _ := url.Parse(srv.URL)
	p := &feedProxy{pages: map[[2]string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/revocations" {
			p.mu.Lock()
			p.pages[[2]string{resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding")}]++
			p.mu.Unlock()
		}
		return nil
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/revocations" && rewrite != nil {
			rewrite(r)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	p.URL = front.URL
	return p
}

// pagesOf returns a rewrite for newFeedProxy that asks for pages of n
// tokens.
func pagesOf(n int) func(r *http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set("limit", strconv.Itoa(n))
		r.URL.RawQuery = q.Encode()
	}
}

// count returns how many feed answers came with the Content-Type and
// Content-Encoding.
func (p *feedProxy) count(contentType, encoding string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pages[[2]string{contentType, encoding}]
}

func TestVerifierSyncsTheCompactFeedGzipped(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	seedRevoked(t, srv, 5000)
	user := srv.User(apitoken.RoleMember)
	tok, id := srv.Mint(user, "customers")
	srv.Revoke(user, id)
	// Pages of 500 tokens, so that the round takes many pages and the
	// verifier merges its state in the middle of it.
	proxy := newFeedProxy(t, srv, pagesOf(500))
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	v, err := verifier.New(verifier.Config{TokendURL: proxy.URL, FeedToken: feed})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, v)
	if n := verifier.Revocations(v); n != 5001 {
		t.Fatalf("the verifier holds %d revocations, want 5,001", n)
	}
	if _, err := v.Verify(tok, loopback); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("revoked token: %v, want %v", err, verifier.ErrRevoked)
	}
	// The last page, of one token, is too short to be worth gzip.
	if zipped, plain := proxy.count(revfeed.MediaType, "gzip"), proxy.count(revfeed.MediaType, ""); zipped != 10 || plain != 1 {
		t.Fatalf("%d gzipped and %d plain compact pages, want 10 and 1 (answers: %v)", zipped, plain, proxy.pages)
	}
}

func TestVerifierReadsTheJSONFeedOfAnOlderTokend(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	// An older tokend answers JSON, whatever the verifier accepts.
	proxy := newFeedProxy(t, srv, func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	clock := newTestClock(time.Now())
	v, err := verifier.New(verifier.Config{TokendURL: proxy.URL, FeedToken: feed, Now: clock.Now, MaxStaleness: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	user := srv.User(apitoken.RoleMember)
	revoked, revokedID := srv.Mint(user, "customers")
	disabled, disabledID := srv.Mint(user, "customers")
	srv.Revoke(user, revokedID)
	setEnabled(t, srv, user, disabledID, false)
	mustSync(t, v)
	if _, err := v.Verify(revoked, loopback); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("revoked token: %v, want %v", err, verifier.ErrRevoked)
	}
	if _, err := v.Verify(disabled, loopback); !errors.Is(err, verifier.ErrDisabled) {
		t.Fatalf("disabled token: %v, want %v", err, verifier.ErrDisabled)
	}
	if n := proxy.count("application/json", ""); n != 1 {
		t.Fatalf("%d plain JSON pages, want 1 (answers: %v)", n, proxy.pages)
	}
}

func TestVerifierDropsRevocationsOfExpiredTokens(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	clock := newTestClock(time.Now())
	v := newSynced(t, srv, func(c *verifier.Config) { c.Now, c.MaxStaleness = clock.Now, 48*time.Hour })
	user := srv.User(apitoken.RoleMember)
	var toks []string
	for range 3 {
		tok, id := srv.Mint(user, "customers") // valid for a day
		srv.Revoke(user, id)
		toks = append(toks, tok)
	}
	mustSync(t, v)
	if n := verifier.Revocations(v); n != 3 {
		t.Fatalf("the verifier holds %d revocations, want 3", n)
	}
	// Just before the claims expire (and the leeway of 5 s has passed),
	// the entries still refuse the tokens.
	clock.Advance(24*time.Hour - time.Minute)
	mustSync(t, v)
	if _, err := v.Verify(toks[0], loopback); !errors.Is(err, verifier.ErrRevoked) || verifier.Revocations(v) != 3 {
		t.Fatalf("before expiry: %v with %d revocations held, want %v with 3", err, verifier.Revocations(v), verifier.ErrRevoked)
	}
	clock.Advance(2 * time.Minute)
	mustSync(t, v)
	if n := verifier.Revocations(v); n != 0 {
		t.Fatalf("after expiry, the verifier holds %d revocations, want none", n)
	}
	if _, err := v.Verify(toks[0], loopback); !errors.Is(err, verifier.ErrExpired) {
		t.Fatalf("after expiry: %v, want %v", err, verifier.ErrExpired)
	}
}

// The feed's pages are fetched one ahead of the page applied: a sync that
// fails in the middle keeps what it applied and resumes from there.
func TestVerifierResumesAFailedSync(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	seedRevoked(t, srv, 3000)
	var mu sync.Mutex
	requests, failAt := 0, 2
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/revocations" {
			mu.Lock()
			requests++
			fail := requests == failAt
			mu.Unlock()
			if fail {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			pagesOf(1000)(r)
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	v, err := verifier.New(verifier.Config{TokendURL: front.URL, FeedToken: feed})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(context.Background()); err == nil {
		t.Fatal("a sync whose second page failed reported no error")
	}
	if n := verifier.Revocations(v); n != 1000 || !v.SyncedAt().IsZero() {
		t.Fatalf("after the failure: %d revocations, synced at %v; want the first page's 1,000, not synced", n, v.SyncedAt())
	}
	mustSync(t, v)
	if n := verifier.Revocations(v); n != 3000 || v.SyncedAt().IsZero() {
		t.Fatalf("after the retry: %d revocations, synced at %v; want 3,000, synced", n, v.SyncedAt())
	}
}

// Verify runs beside syncs that merge the state in the middle of a round:
// under the race detector, this checks that merging outside the lock is
// safe.
func TestVerifyDuringSyncs(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	seedRevoked(t, srv, 5000)
	user := srv.User(apitoken.RoleMember)
	good, _ := srv.Mint(user, "customers")
	bad, badID := srv.Mint(user, "customers")
	srv.Revoke(user, badID)
	proxy := newFeedProxy(t, srv, pagesOf(500))
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	v, err := verifier.New(verifier.Config{TokendURL: proxy.URL, FeedToken: feed, AllowStale: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Paced, so that the checks leave the machine to the syncs.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			// Before the first sync the keys are unknown; the answers
			// are checked after the syncs.
			v.Verify(good, loopback)
			v.Verify(bad, loopback)
		}
	}()
	for range 2 {
		verifier.ForgetCursor(v) // each sync a snapshot, merging as it goes
		mustSync(t, v)
	}
	close(done)
	wg.Wait()
	if _, err := v.Verify(good, loopback); err != nil {
		t.Fatalf("good token: %v", err)
	}
	if _, err := v.Verify(bad, loopback); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("revoked token: %v, want %v", err, verifier.ErrRevoked)
	}
	if n := verifier.Revocations(v); n != 5001 {
		t.Fatalf("the verifier holds %d revocations, want 5,001", n)
	}
}
