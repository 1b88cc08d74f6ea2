// Package deploy_test checks the gateway configurations in deploy/ against
// a real tokend: it reads each file and sends tokend the authorization
// requests that gateway would send, as its documentation describes them.
// (No Traefik or Envoy runs here; deploy/nginx tests nginx itself.)
package deploy_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// authCall sends an authorization request to tokend's address in place of
// the gateway's, with the client's bearer token.
func authCall(t *testing.T, srv *tokendtest.Server, method, target, token string, header map[string]string) *http.Response {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, srv.URL+u.RequestURI(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTraefikForwardAuth(t *testing.T) {
	var conf struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address             string   `yaml:"address"`
					TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	b, err := os.ReadFile("traefik/tokend.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	fa := conf.HTTP.Middlewares["tokend-payments"].ForwardAuth
	if fa.Address == "" || fa.TrustForwardHeader {
		t.Fatalf("tokend-payments middleware: %+v", fa)
	}

	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	user := srv.User(apitoken.RoleMember)
	payer, payerID := srv.Mint(user, "payments-write")
	reader, _ := srv.Mint(user, "customers")

	// Traefik sends the original method and its own X-Forwarded-* headers.
	resp := authCall(t, srv, "POST", fa.Address, payer, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Method": "POST"})
	if resp.StatusCode != 200 {
		t.Fatalf("payments-write token: %d", resp.StatusCode)
	}
	for _, h := range fa.AuthResponseHeaders {
		if resp.Header.Get(h) == "" {
			t.Errorf("tokend did not answer header %s, which the middleware copies", h)
		}
	}
	if resp.Header.Get("X-Token-Id") != payerID {
		t.Errorf("X-Token-Id = %q", resp.Header.Get("X-Token-Id"))
	}
	if resp := authCall(t, srv, "POST", fa.Address, reader, nil); resp.StatusCode != 403 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="payments-write"`) {
		t.Fatalf("customers token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestEnvoyExtAuthz(t *testing.T) {
	b, err := os.ReadFile("envoy/tokend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	prefix, _ := find(doc, "path_prefix").(string)
	add, _ := find(doc, "headers_to_add").([]any)
	if prefix != "/auth" || len(add) != 1 {
		t.Fatalf("path_prefix %q, headers_to_add %v", prefix, add)
	}
	entry := add[0].(map[string]any)
	header, scope := entry["key"].(string), entry["value"].(string)
	upstream := fmt.Sprint(find(doc, "allowed_upstream_headers"))

	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	user := srv.User(apitoken.RoleMember)
	good, _ := srv.Mint(user, scope)
	bad, _ := srv.Mint(user, "accounts")

	// Envoy appends the original path and query to path_prefix.
	target := "http://tokend:8080" + prefix + "/customers/42?expand=owner"
	resp := authCall(t, srv, "GET", target, good, map[string]string{header: scope})
	if resp.StatusCode != 200 {
		t.Fatalf("token with %q: %d", scope, resp.StatusCode)
	}
	for _, h := range []string{"x-token-subject", "x-token-id", "x-token-scope"} {
		if resp.Header.Get(h) == "" || !strings.Contains(upstream, h) {
			t.Errorf("header %s: answered %q, allowed upstream: %v", h, resp.Header.Get(h), strings.Contains(upstream, h))
		}
	}
	if resp := authCall(t, srv, "GET", target, bad, map[string]string{header: scope}); resp.StatusCode != 403 {
		t.Fatalf("token without %q: %d", scope, resp.StatusCode)
	}
}

// find returns the first value under key anywhere in a YAML document.
func find(node any, key string) any {
	switch n := node.(type) {
	case map[string]any:
		if v, ok := n[key]; ok {
			return v
		}
		for _, v := range n {
			if found := find(v, key); found != nil {
				return found
			}
		}
	case []any:
		for _, v := range n {
			if found := find(v, key); found != nil {
				return found
			}
		}
	}
	return nil
}
