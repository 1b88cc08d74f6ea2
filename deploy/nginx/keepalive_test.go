package nginx_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// listenCounting returns a loopback listener that counts its connections.
func listenCounting(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &countingListener{Listener: ln}
}

// hammer sends perClient GET requests for path from each of clients
// concurrent keep-alive clients, and fails the test unless every one is
// answered 200 by the API with the token's subject.
func hammer(t *testing.T, base, path, token, subject string, clients, perClient int) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	start := make(chan struct{})
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range perClient {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), subject) {
					errs <- fmt.Errorf("%s: %s %s", path, resp.Status, b)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestNginxReusesConnectionsToTokend checks upstream keep-alive in
// tokend.conf: under concurrent requests nginx opens at most one
// connection to tokend per request it has in flight and then reuses them,
// instead of opening one per request. (With `keepalive 16` and 64
// concurrent clients nginx opened about 600 for 1,920 requests; without
// `proxy_method HEAD` it opened one for every refusal, whose body it does
// not read.)
func TestNginxReusesConnectionsToTokend(t *testing.T) {
	ln := listenCounting(t)
	// Hundreds of refusals from one client address: more than the
	// failed-authentication limit allows, which this test is not about.
	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32", Listener: ln,
		Env: map[string]string{"TOKEND_RATE_AUTH_FAILURES": "off"}})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Token-Subject"))
	}))
	defer api.Close()
	base := startNginx(t, "tokend.conf", ln.Addr().String(), strings.TrimPrefix(api.URL, "http://"))
	user := srv.User(apitoken.RoleMember)
	token, _ := srv.Mint(user, "customers")
	const clients, perClient = 64, 30

	start := ln.accepted.Load()
	t.Run("concurrent requests share one connection per request in flight", func(t *testing.T) {
		before := ln.accepted.Load()
		hammer(t, base, "/customers", token, user, clients, perClient)
		opened := ln.accepted.Load() - before
		t.Logf("%d requests from %d concurrent clients: nginx opened %d connections to tokend", clients*perClient, clients, opened)
		if opened > clients {
			t.Errorf("nginx opened %d connections to tokend for %d requests from %d concurrent clients; "+
				"reusing them, it needs at most one per request in flight", opened, clients*perClient, clients)
		}
	})
	t.Run("a second burst finds the connections open", func(t *testing.T) {
		// The second burst may have more requests in flight at its peak
		// than the first had, and open a connection for each of those;
		// but with the idle ones kept, both bursts together never need
		// more than one per client.
		hammer(t, base, "/customers", token, user, clients, perClient)
		if opened := ln.accepted.Load() - start; opened > clients {
			t.Errorf("two bursts from %d clients opened %d connections to tokend; the idle ones were not kept", clients, opened)
		}
	})
	t.Run("refusals keep the connection open too", func(t *testing.T) {
		for _, c := range []struct{ name, path, token string }{
			{"no token (401)", "/customers", ""},
			{"a malformed token (401)", "/customers", "not-a-token"},
			{"a token without the scope (403)", "/payments", token},
		} {
			before := ln.accepted.Load()
			for range 50 {
				req, _ := http.NewRequest("GET", base+c.path, nil)
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 401 && resp.StatusCode != 403 {
					t.Fatalf("%s: %s", c.name, resp.Status)
				}
			}
			if opened := ln.accepted.Load() - before; opened > 1 {
				t.Errorf("%s: 50 refusals one after the other opened %d connections to tokend", c.name, opened)
			}
		}
	})
}
