package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// benchClient keeps connections alive, as a gateway does.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// loadLoopback sends GET url with the token from parallel goroutines over
// loopback until b.N requests are done; every answer must be 200.
func loadLoopback(b *testing.B, url, token string) {
	client := benchClient()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			getOK(b, client, url, token)
		}
	})
}

// getOK sends GET url with the token, if any, and reads the answer, which
// must be 200.
func getOK(b *testing.B, client *http.Client, url, token string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	sendOK(b, client, req, http.StatusOK)
}

// sendOK sends the request and reads the answer, whose status must be
// want.
func sendOK(b *testing.B, client *http.Client, req *http.Request, want int) {
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
}

// BenchmarkForwardAuth measures GET /auth?scope=… with a valid token over
// loopback: the signature (remembered after the first request), the
// token's state (held in memory after the first request), the scopes, the
// access log and the metrics.
// Compare it with BenchmarkLoopbackBaseline from the same run. It uses
// SQLite, or PostgreSQL when TOKEND_TEST_DATABASE_URL is set.
func BenchmarkForwardAuth(b *testing.B) {
	dialect := dbtest.Dialects()[len(dbtest.Dialects())-1]
	h := newHarness(b, options{dbURL: dbtest.NewURL(b, dialect)})
	tok, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers payments-write"})
	b.Logf("database: %s", dialect)
	loadLoopback(b, h.URL+"/auth?scope=customers", tok)
}

// BenchmarkLoopbackBaseline is a handler that answers 200 and does nothing
// else, served and called the same way as BenchmarkForwardAuth.
func BenchmarkLoopbackBaseline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	loadLoopback(b, srv.URL+"/auth", "")
}

// BenchmarkForwardAuthHandler measures what tokend itself spends on a
// forward-auth request, without the network: its handler serving
// GET /auth?scope=… with a valid token held in memory, against a recorder.
// Compare it with BenchmarkTrivialHandler of the same run.
func BenchmarkForwardAuthHandler(b *testing.B) {
	h := newHarness(b, options{})
	tok, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers payments-write"})
	serveHandler(b, h.Handler, "/auth?scope=customers", tok)
}

// BenchmarkTrivialHandler is a handler that answers 200 and nothing else,
// called the same way as BenchmarkForwardAuthHandler.
func BenchmarkTrivialHandler(b *testing.B) {
	serveHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), "/auth", "")
}

// serveHandler calls the handler with GET path from parallel goroutines;
// every answer must be 200.
func serveHandler(b *testing.B, h http.Handler, path, token string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
