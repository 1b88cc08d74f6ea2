package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestDownstreamWithRealTokend runs the example service against a real
// tokend and drives both routes with tokens tokend issued.
func TestDownstreamWithRealTokend(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
	env := map[string]string{
		"TOKEND_URL":        srv.URL,
		"TOKEND_FEED_TOKEN": feed,
		"LISTEN":            "127.0.0.1:0",
		"SYNC_INTERVAL":     "200ms",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, io.Discard, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	user := srv.User(apitoken.RoleMember)
	reader, _ := srv.Mint(user, "customers")
	payer, payerID := srv.Mint(user, "customers payments-write")

	call := func(method, path, token string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		json.NewDecoder(resp.Body).Decode(&doc)
		return resp.StatusCode, resp.Header, doc
	}

	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"a customers token lists customers", "GET", "/customers", reader, 200},
		{"a customers token cannot create payments", "POST", "/payments", reader, 403},
		{"a payments-write token creates payments", "POST", "/payments", payer, 201},
		{"a request without a token is refused", "GET", "/customers", "", 401},
		{"a forged token is refused", "GET", "/customers", reader[:len(reader)-60] + strings.Repeat("A", 60), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, doc := call(tt.method, tt.path, tt.token)
			if status != tt.want {
				t.Fatalf("status = %d, want %d (%v)", status, tt.want, doc)
			}
			if status == 403 && !strings.Contains(h.Get("WWW-Authenticate"), `scope="payments-write"`) {
				t.Fatalf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("the handler sees the token's subject", func(t *testing.T) {
		_, _, doc := call("GET", "/customers", payer)
		meta := doc["meta"].(map[string]any)
		if meta["requestedBy"] != user || meta["token"] != payerID {
			t.Fatalf("meta = %v, want user %s and token %s", meta, user, payerID)
		}
	})

	t.Run("a token revoked at tokend is refused within the sync interval", func(t *testing.T) {
		srv.Revoke(user, payerID)
		deadline := time.Now().Add(3 * time.Second)
		for {
			status, _, _ := call("POST", "/payments", payer)
			if status == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked token still gets %d", status)
			}
			time.Sleep(25 * time.Millisecond)
		}
		if status, _, _ := call("GET", "/customers", reader); status != 200 {
			t.Fatalf("another token of the user: %d", status)
		}
	})
}
