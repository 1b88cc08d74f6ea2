// Package nginx_test runs deploy/nginx/tokend.conf in a real nginx in front
// of a real tokend and a test API.
//
// The test needs nginx with the auth_request module (Debian's nginx-light).
// CI installs it and sets TOKEND_TEST_NGINX to its path; then a missing or
// broken nginx fails the test. Elsewhere the test runs if nginx is on PATH
// and is skipped otherwise.
package nginx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

func nginxBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TOKEND_TEST_NGINX"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("TOKEND_TEST_NGINX=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("nginx")
	if err != nil {
		p = "/usr/sbin/nginx"
		if _, err := os.Stat(p); err != nil {
			t.Skip("nginx is not installed (CI installs nginx-light and sets TOKEND_TEST_NGINX)")
		}
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cacheDir is where tokend-microcache.conf keeps its cache; tests move it
// into their own directory.
const cacheDir = "/dev/shm/nginx-tokend-auth"

// startNginx runs a shipped configuration (tokend.conf or
// tokend-microcache.conf) with its upstreams and listen address pointed at
// the test's servers, and returns nginx's base URL.
func startNginx(t *testing.T, file, tokendAddr, apiAddr string) string {
	t.Helper()
	bin := nginxBinary(t)
	conf, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	dir := t.TempDir()
	site := string(conf)
	for old, repl := range map[string]string{
		"server tokend:8080;": "server " + tokendAddr + ";",
		"server api:9090;":    "server " + apiAddr + ";",
		"listen 80;":          "listen " + listen + ";",
	} {
		if !strings.Contains(site, old) {
			t.Fatalf("%s no longer contains %q", file, old)
		}
		site = strings.Replace(site, old, repl, 1)
	}
	site = strings.ReplaceAll(site, cacheDir, filepath.Join(dir, "cache"))
	if err := os.WriteFile(filepath.Join(dir, "tokend.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/tokend.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if b, _ := os.ReadFile(filepath.Join(dir, "error.log")); t.Failed() && len(b) > 0 {
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNginxAuthRequest(t *testing.T) {
	// nginx connects to tokend from 127.0.0.1, which tokend trusts.
	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"path":    r.URL.Path,
			"subject": r.Header.Get("X-Token-Subject"),
			"id":      r.Header.Get("X-Token-Id"),
			"scope":   r.Header.Get("X-Token-Scope"),
		})
	}))
	defer api.Close()
	base := startNginx(t, "tokend.conf", strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(api.URL, "http://"))

	user := srv.User(apitoken.RoleMember)
	reader, readerID := srv.Mint(user, "customers")
	payer, _ := srv.Mint(user, "customers payments-write")
	revoked, revokedID := srv.Mint(user, "customers")
	srv.Revoke(user, revokedID)
	local := mintBound(t, srv, user, "127.0.0.1")
	remote := mintBound(t, srv, user, "10.0.0.0/8")

	type result struct {
		status    int
		challenge string
		body      map[string]string
	}
	call := func(method, path, token string, header map[string]string) result {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"amount":1}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]string
		json.Unmarshal(b, &body)
		return result{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body}
	}

	t.Run("a token with the scope reaches the API, which learns who called", func(t *testing.T) {
		r := call("GET", "/customers", reader, nil)
		if r.status != 200 || r.body["subject"] != user || r.body["id"] != readerID || r.body["scope"] != "customers" {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a POST with a body is authorized too", func(t *testing.T) {
		if r := call("POST", "/payments", payer, nil); r.status != 200 || r.body["path"] != "/payments" {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a token without the scope gets 403 with an insufficient_scope challenge", func(t *testing.T) {
		r := call("POST", "/payments", reader, nil)
		if r.status != 403 || !strings.Contains(r.challenge, `error="insufficient_scope"`) || !strings.Contains(r.challenge, `scope="payments-write"`) {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a location may require several scopes", func(t *testing.T) {
		both, _ := srv.Mint(user, "accounts accounts-write")
		one, _ := srv.Mint(user, "accounts")
		if r := call("GET", "/accounts", both, nil); r.status != 200 {
			t.Fatalf("with both scopes: %+v", r)
		}
		if r := call("GET", "/accounts", one, nil); r.status != 403 || !strings.Contains(r.challenge, `scope="accounts accounts-write"`) {
			t.Fatalf("with one scope: %+v", r)
		}
	})
	t.Run("no token gets 401 with a Bearer challenge", func(t *testing.T) {
		if r := call("GET", "/customers", "", nil); r.status != 401 || !strings.HasPrefix(r.challenge, "Bearer") {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a revoked token gets 401 with invalid_token", func(t *testing.T) {
		if r := call("GET", "/customers", revoked, nil); r.status != 401 || !strings.Contains(r.challenge, `error="invalid_token"`) {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a token bound to the client's address passes", func(t *testing.T) {
		if r := call("GET", "/customers", local, nil); r.status != 200 {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a token bound to other addresses is refused, even with a forged X-Forwarded-For", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {"X-Forwarded-For": "10.1.2.3"}} {
			if r := call("GET", "/customers", remote, h); r.status != 403 {
				t.Fatalf("with headers %v: got %+v", h, r)
			}
		}
	})
}

// mintBound issues a customers token usable only from sourceIP.
func mintBound(t *testing.T, srv *tokendtest.Server, user, sourceIP string) string {
	t.Helper()
	desc, scope := "bound", "customers"
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	_, raw, err := srv.Service.IssueToken(context.Background(), user, apitoken.TokenRequest{
		Description: &desc, Scope: &scope, Expiration: &exp, SourceIP: &sourceIP})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
