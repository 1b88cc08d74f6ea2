package app_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/tokendtest"
)

var client = &http.Client{Timeout: 15 * time.Second}

// get sends a GET with the token and returns the status and how long the
// answer took.
func get(t *testing.T, s *tokendtest.Server, path, token string) (int, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// TestOutagesFailFastAndRecover takes PostgreSQL away from a running tokend
// through a TCP proxy, by black-holing it (packets dropped, no reset) and
// by refusing connections, and checks SPEC §5: requests that need the
// database answer 503 within 2.5 s, and within 200 ms once the outage is
// known; a token the replica holds is vouched for until its state is older
// than TOKEND_STATE_MAX_AGE, then 503, never 401; /healthz and the key set
// answer from memory throughout; and everything recovers on its own within
// 5 s of the database coming back.
func TestOutagesFailFastAndRecover(t *testing.T) {
	if os.Getenv(dbtest.EnvURL) == "" {
		t.Skip(dbtest.EnvURL + " is not set: the outage test needs PostgreSQL behind a TCP proxy (CI sets it)")
	}
	u, err := url.Parse(dbtest.NewURL(t, store.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	proxy := dbtest.StartProxy(t, u.Host)
	u.Host = proxy.Addr
	const maxAge = 2 * time.Second
	s := tokendtest.Start(t, tokendtest.Options{DatabaseURL: u.String(), StateMaxAge: maxAge})
	member := s.User(apitoken.RoleMember)
	held, _ := s.Mint(member, "customers api-tokens")
	api := "/users/" + member + "/api-tokens"

	expect := func(t *testing.T, path, token string, want int) {
		t.Helper()
		if status, _ := get(t, s, path, token); status != want {
			t.Fatalf("GET %s = %d, want %d", path, status, want)
		}
	}
	healthy := func(t *testing.T) {
		t.Helper()
		expect(t, "/healthz", "", 200)
		expect(t, "/.well-known/paseto-keys", "", 200)
	}
	// failFast checks that, with the outage known, a request needing the
	// database fails within 200 ms: the median of several, so that one
	// slow scheduling of a loaded machine does not decide.
	failFast := func(t *testing.T, token string) {
		t.Helper()
		var took []time.Duration
		for range 5 {
			status, d := get(t, s, api, token)
			if status != http.StatusServiceUnavailable {
				t.Fatalf("GET %s during the outage = %d, want 503", api, status)
			}
			took = append(took, d)
		}
		slices.Sort(took)
		if took[2] > 200*time.Millisecond {
			t.Errorf("with the outage known, 503s took %v; want a median within 200 ms", took)
		}
	}
	recovers := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		for {
			a, _ := get(t, s, "/auth?scope=customers", held)
			b, _ := get(t, s, api, held)
			r, _ := get(t, s, "/readyz", "")
			if a == 200 && b == 200 && r == 200 {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("5 s after the database came back: /auth %d, API %d, /readyz %d", a, b, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("recovered in %s", time.Since(start).Round(time.Millisecond))
	}

	// The replica answers for the held token from memory.
	for range 10 {
		expect(t, "/auth?scope=customers", held, 200)
	}
	healthy(t)

	t.Run("a black-holed database", func(t *testing.T) {
		fresh, _ := s.Mint(member, "customers api-tokens") // never used: not in memory
		proxy.BlackHole()
		outage := time.Now()
		status, took := get(t, s, api, fresh)
		if status != http.StatusServiceUnavailable || took > 2500*time.Millisecond {
			t.Fatalf("the first request needing the database: %d after %s, want 503 within 2.5 s", status, took)
		}
		failFast(t, fresh)
		expect(t, "/readyz", "", 503)
		healthy(t)
		// The held token is vouched for while the state is young, then
		// unavailable: never refused.
		for {
			status, _ := get(t, s, "/auth?scope=customers", held)
			age := time.Since(outage)
			switch {
			case status == http.StatusOK && age <= maxAge+time.Second:
			case status == http.StatusServiceUnavailable && age >= maxAge-time.Second:
			default:
				t.Fatalf("%s into the outage, the held token got %d", age.Round(time.Millisecond), status)
			}
			if status == http.StatusServiceUnavailable {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		healthy(t)
		proxy.Forward()
		recovers(t)
	})
	t.Run("a database that refuses connections", func(t *testing.T) {
		fresh, _ := s.Mint(member, "customers api-tokens")
		proxy.Refuse()
		status, took := get(t, s, api, fresh)
		if status != http.StatusServiceUnavailable || took > 2500*time.Millisecond {
			t.Fatalf("the first request needing the database: %d after %s, want 503 within 2.5 s", status, took)
		}
		failFast(t, fresh)
		healthy(t)
		proxy.Forward()
		recovers(t)
	})
}
