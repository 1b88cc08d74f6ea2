package nginx_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// authChecks returns how many forward-auth checks tokend has answered, from
// its own metrics.
func authChecks(t *testing.T, srv *tokendtest.Server) int {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "tokend_http_requests_total{") && strings.Contains(line, `route="/auth"`) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += int(v)
		}
	}
	return n
}

// TestNginxMicroCache runs tokend-microcache.conf in a real nginx: an
// answer of tokend's is reused for its one-second lifetime for the same
// token, scopes and client, and never for another scope set.
func TestNginxMicroCache(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Token-Subject")+" "+r.Header.Get("X-Token-Scope"))
	}))
	defer api.Close()
	base := startNginx(t, "tokend-microcache.conf", strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(api.URL, "http://"))
	user := srv.User(apitoken.RoleMember)
	reader, _ := srv.Mint(user, "customers")

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// asked runs fn and returns how many checks tokend answered meanwhile.
	asked := func(fn func()) int {
		t.Helper()
		before := authChecks(t, srv)
		fn()
		return authChecks(t, srv) - before
	}

	t.Run("the same token, scopes and client within a second are answered from the cache", func(t *testing.T) {
		n := asked(func() {
			for range 5 {
				if status, body := get("/customers", reader); status != 200 || body != user+" customers" {
					t.Fatalf("GET /customers = %d %q", status, body)
				}
			}
		})
		if n != 1 {
			t.Fatalf("5 requests within the cache's lifetime asked tokend %d times, want 1", n)
		}
	})
	t.Run("another scope set is never answered from the cache", func(t *testing.T) {
		n := asked(func() {
			if status, _ := get("/payments", reader); status != 403 {
				t.Fatalf("GET /payments with a customers token = %d, want 403", status)
			}
		})
		if n != 1 {
			t.Fatalf("a request needing other scopes asked tokend %d times, want 1", n)
		}
	})
	t.Run("refusals are cached for the same second", func(t *testing.T) {
		n := asked(func() {
			for range 5 {
				if status, _ := get("/customers", reader+"x"); status != 401 {
					t.Fatalf("a tampered token got %d, want 401", status)
				}
			}
		})
		if n != 1 {
			t.Fatalf("5 refused requests asked tokend %d times, want 1", n)
		}
	})
	t.Run("after the lifetime tokend is asked again, and a revoke then holds", func(t *testing.T) {
		tok, id := srv.Mint(user, "customers")
		if status, _ := get("/customers", tok); status != 200 {
			t.Fatalf("a fresh token got %d", status)
		}
		srv.Revoke(user, id)
		// Within the lifetime the cached answer may still pass; after it,
		// the revoke holds.
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, _ := get("/customers", tok)
			if status == 401 {
				break
			}
			if status != 200 || time.Now().After(deadline) {
				t.Fatalf("a revoked token got %d, still, 5 s after the revoke", status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
