package replica_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/tokendtest"
)

// client is the HTTP client of the tests: keep-alive, bounded waits.
var client = &http.Client{Timeout: 10 * time.Second}

// replicas starts n tokend servers on one fresh database of the dialect,
// with the clock now (nil for time.Now).
func replicas(t *testing.T, dialect string, n int, now func() time.Time) []*tokendtest.Server {
	t.Helper()
	url := dbtest.NewURL(t, dialect)
	servers := []*tokendtest.Server{tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Now: now})}
	for len(servers) < n {
		servers = append(servers, tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Replica: true, Now: now}))
	}
	return servers
}

// auth asks the server's forward-auth endpoint about the token.
func auth(t *testing.T, s *tokendtest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth?scope=customers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// introspect returns the server's introspection answer for the token.
func introspect(t *testing.T, s *tokendtest.Server, caller, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+caller)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d, %v", resp.StatusCode, err)
	}
	return m
}

// send makes an admin API request and fails the test unless it succeeds.
func send(t *testing.T, s *tokendtest.Server, method, path string, doc map[string]any) {
	t.Helper()
	var body []byte
	if doc != nil {
		body, _ = json.Marshal(doc)
	}
	req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	if doc != nil {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}

// warmUp has every server answer for the token n times, so that each
// holds its state in memory, and fails the test unless each accepts it.
func warmUp(t *testing.T, servers []*tokendtest.Server, token string, n int) {
	t.Helper()
	for _, s := range servers {
		for range n {
			if status := auth(t, s, token); status != http.StatusOK {
				t.Fatalf("%s answers a token that works with %d", s.URL, status)
			}
		}
	}
}

// refusedBy is the condition, for within, that a server refuses the token.
func refusedBy(t *testing.T, token string) func(*tokendtest.Server) bool {
	return func(s *tokendtest.Server) bool { return auth(t, s, token) == http.StatusUnauthorized }
}

// within waits until cond holds on every server, and fails the test if it
// takes longer than limit. It returns how long it took.
func within(t *testing.T, limit time.Duration, servers []*tokendtest.Server, cond func(*tokendtest.Server) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for _, s := range servers {
		for !cond(s) {
			if time.Since(start) > limit {
				t.Fatalf("not honoured by %s after %s", s.URL, limit)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return time.Since(start)
}

// TestChangesReachEveryReplicaWithinASecond makes each change a token's
// state can take on one replica, or directly in the database as the command
// line does, and checks that every other replica honours it within a
// second, after each has answered for the token many times from memory.
func TestChangesReachEveryReplicaWithinASecond(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			servers := replicas(t, d, 3, nil)
			a, others := servers[0], servers[1:]
			caller, _ := a.Mint(a.AdminID, apitoken.ScopeIntrospect)
			warm := func(token string) { t.Helper(); warmUp(t, servers, token, 20) }
			refused := func(token string) func(*tokendtest.Server) bool { return refusedBy(t, token) }
			member := a.User(apitoken.RoleMember)

			t.Run("a revoke on one replica", func(t *testing.T) {
				tok, id := a.Mint(member, "customers")
				warm(tok)
				a.Revoke(member, id)
				t.Logf("honoured in %s", within(t, time.Second, servers, refused(tok)))
			})
			t.Run("a disable on one replica", func(t *testing.T) {
				tok, id := a.Mint(member, "customers")
				warm(tok)
				send(t, a, http.MethodPatch, "/users/"+member+"/api-tokens/"+id,
					map[string]any{"data": map[string]any{"type": "apiToken", "id": id, "attributes": map[string]any{"enabled": false}}})
				within(t, time.Second, servers, refused(tok))
			})
			t.Run("a shortened expiration on one replica", func(t *testing.T) {
				tok, id := a.Mint(member, "customers")
				warm(tok)
				exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
				send(t, a, http.MethodPatch, "/users/"+member+"/api-tokens/"+id,
					map[string]any{"data": map[string]any{"type": "apiToken", "id": id, "attributes": map[string]any{"expiration": exp.Format(time.RFC3339)}}})
				within(t, time.Second, others, func(s *tokendtest.Server) bool {
					return introspect(t, s, caller, tok)["exp"] == float64(exp.Unix())
				})
			})
			t.Run("a user disabled on one replica", func(t *testing.T) {
				user := a.User(apitoken.RoleMember)
				tok, _ := a.Mint(user, "customers")
				warm(tok)
				send(t, a, http.MethodPatch, "/users/"+user,
					map[string]any{"data": map[string]any{"type": "user", "id": user, "attributes": map[string]any{"disabled": true}}})
				within(t, time.Second, servers, refused(tok))
			})
			t.Run("a revoke written to the database by another process", func(t *testing.T) {
				tok, id := a.Mint(member, "customers")
				warm(tok)
				cli := dbtest.MustOpenURL(t, a.DatabaseURL)
				_, err := cli.Tokens.Update(context.Background(), member, id, func(t *apitoken.Token) error {
					now := time.Now().UTC()
					t.RevokedAt, t.UpdatedAt = &now, now
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				within(t, time.Second, servers, refused(tok))
			})
			t.Run("a key retired by another process", func(t *testing.T) {
				tok, _ := a.Mint(member, "customers")
				warm(tok)
				cli := dbtest.MustOpenURL(t, a.DatabaseURL)
				sealer, err := keys.NewSealer(tokendtest.Secret)
				if err != nil {
					t.Fatal(err)
				}
				ring := keys.NewRing(cli.Keys, sealer, nil)
				ctx := context.Background()
				if err := ring.Load(ctx); err != nil {
					t.Fatal(err)
				}
				old, err := cli.Keys.ActiveKey(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ring.Rotate(ctx, time.Hour); err != nil {
					t.Fatal(err)
				}
				if err := ring.Retire(ctx, old.ID); err != nil {
					t.Fatal(err)
				}
				within(t, time.Second, servers, refused(tok))
				fresh, _ := a.Mint(member, "customers")
				within(t, time.Second, servers, func(s *tokendtest.Server) bool { return auth(t, s, fresh) == http.StatusOK })
			})
		})
	}
}

// BenchmarkPropagation measures how long a revoke made on one of three
// replicas takes to be honoured by the two others, after each has answered
// for the token from memory: 100 trials, reported as the median and the
// worst. It uses PostgreSQL when TOKEND_TEST_DATABASE_URL is set, SQLite
// otherwise. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench Propagation -benchtime 1x ./internal/replica/
func BenchmarkPropagation(b *testing.B) {
	dialect := dbtest.Dialects()[len(dbtest.Dialects())-1]
	url := dbtest.NewURL(b, dialect)
	a := tokendtest.Start(b, tokendtest.Options{DatabaseURL: url})
	servers := []*tokendtest.Server{a,
		tokendtest.Start(b, tokendtest.Options{DatabaseURL: url, Replica: true}),
		tokendtest.Start(b, tokendtest.Options{DatabaseURL: url, Replica: true})}
	member := a.User(apitoken.RoleMember)
	status := func(s *tokendtest.Server, token string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth?scope=customers", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range b.N {
		var took []time.Duration
		for range 100 {
			tok, id := a.Mint(member, "customers")
			for _, s := range servers {
				for range 5 {
					if status(s, tok) != http.StatusOK {
						b.Fatal("a fresh token is refused")
					}
				}
			}
			a.Revoke(member, id)
			start := time.Now()
			for _, s := range servers[1:] {
				for status(s, tok) != http.StatusUnauthorized {
					if time.Since(start) > 5*time.Second {
						b.Fatal("a revoke did not reach every replica within 5 s")
					}
				}
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "worst-ms")
	}
}
