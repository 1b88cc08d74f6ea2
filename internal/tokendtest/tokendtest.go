// Package tokendtest starts a real tokend for tests of the things around it
// (downstream verifiers, the example service, gateways, the HTTP API): the
// same wiring as "tokend serve" (package app), on a loopback listener, over
// a fresh migrated database, with real signing keys and a bootstrap admin.
package tokendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/store"
)

// Secret is the TOKEND_SECRET test servers use.
const Secret = "tokendtest-secret-tokendtest-secret-0123"

// Options change how Start builds the server.
type Options struct {
	// DatabaseURL defaults to a fresh SQLite file.
	DatabaseURL string
	// TrustedProxies is a comma-separated list, as in TOKEND_TRUSTED_PROXIES.
	TrustedProxies string
	// Listener, when set, is the listener to serve on; by default Start
	// listens on a port of its own on loopback.
	Listener net.Listener
	// Logs receives the server's JSON logs; nil discards them.
	Logs io.Writer
	// MaxLifetime defaults to 366 days.
	MaxLifetime time.Duration
	// RequestTimeout defaults to the server's own default.
	RequestTimeout time.Duration
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Replica says the database is another server's: the server starts
	// as one more replica, without a bootstrap admin of its own.
	Replica bool
	// StateMaxAge is the server's TOKEND_STATE_MAX_AGE.
	StateMaxAge time.Duration
	// Env sets more TOKEND_* variables, such as the rate limits.
	Env map[string]string
}

// Server is a running tokend.
type Server struct {
	URL         string
	DatabaseURL string
	// Handler is the server's HTTP handler, for benchmarks of the request
	// path without the network.
	Handler http.Handler
	Store   *store.Store
	Ring    *keys.Ring
	Service *service.Service
	// App is tokend assembled, for what only it does (flushing the
	// refused authentications to the audit log).
	App *app.App

	// AdminID and AdminToken are the bootstrap admin's, unless the
	// server started as a replica.
	AdminID    string
	AdminToken string
	tb         testing.TB
	stop       func()
}

// Close stops the server at once, as if tokend became unreachable: it
// stops listening and drops its connections.
func (s *Server) Close() { s.stop() }

// Start starts a tokend, stopped when the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	if opt.DatabaseURL == "" {
		opt.DatabaseURL = dbtest.NewURL(tb, store.SQLite)
	}
	env := map[string]string{
		"TOKEND_DATABASE_URL":    opt.DatabaseURL,
		"TOKEND_DATA_DIR":        tb.TempDir(),
		"TOKEND_TRUSTED_PROXIES": opt.TrustedProxies,
	}
	if opt.MaxLifetime > 0 {
		env["TOKEND_MAX_TOKEN_LIFETIME"] = opt.MaxLifetime.String()
	}
	if opt.RequestTimeout > 0 {
		env["TOKEND_REQUEST_TIMEOUT"] = opt.RequestTimeout.String()
	}
	if opt.StateMaxAge > 0 {
		env["TOKEND_STATE_MAX_AGE"] = opt.StateMaxAge.String()
	}
	maps.Copy(env, opt.Env)
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatalf("tokendtest: configuration: %v", err)
	}
	// Closing is what tests want of a stopped tokend: gone at once.
	cfg.ShutdownTimeout = 0
	if opt.Logs == nil {
		opt.Logs = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(opt.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, app.Options{Secret: Secret, Log: log, Now: opt.Now})
	if err != nil {
		tb.Fatalf("tokendtest: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	admin, token, err := a.Service.Bootstrap(ctx)
	if err != nil || (token == "" && !opt.Replica) {
		tb.Fatalf("tokendtest: bootstrap: %v", err)
	}

	ln := opt.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	tb.Cleanup(stop)
	return &Server{
		URL: "http://" + ln.Addr().String(), DatabaseURL: opt.DatabaseURL, Handler: a.Handler, Store: a.Store, Ring: a.Ring, Service: a.Service, App: a,
		AdminID: admin.ID, AdminToken: token, tb: tb, stop: stop,
	}
}

// User creates a user and returns its id.
func (s *Server) User(role apitoken.Role) string {
	s.tb.Helper()
	u, err := s.Service.AddUser(context.Background(), apitoken.UserRequest{
		Email: uuid.NewString() + "@example.com", Role: string(role)})
	if err != nil {
		s.tb.Fatal(err)
	}
	return u.ID
}

// Mint issues a token for the user with the scopes (space-separated),
// valid for a day, and returns the token and its id.
func (s *Server) Mint(userID, scope string) (token, id string) {
	s.tb.Helper()
	desc := "tokendtest"
	exp := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	t, raw, err := s.Service.IssueToken(context.Background(), userID,
		apitoken.TokenRequest{Description: &desc, Scope: &scope, Expiration: &exp})
	if err != nil {
		s.tb.Fatal(err)
	}
	return raw, t.ID
}

// Revoke revokes the token through the HTTP API, as the admin.
func (s *Server) Revoke(userID, tokenID string) {
	s.tb.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.URL+"/users/"+userID+"/api-tokens/"+tokenID, nil)
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("tokendtest: revoke: %s", resp.Status)
	}
}

// Rotate rotates the token through the HTTP API, as the admin, with the
// rotation's attributes (SPEC §6), and returns the new token string.
func (s *Server) Rotate(userID, tokenID string, attrs map[string]any) string {
	s.tb.Helper()
	body, err := json.Marshal(map[string]any{"data": map[string]any{"type": "apiTokenRotation", "attributes": attrs}})
	if err != nil {
		s.tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/users/"+userID+"/api-tokens/"+tokenID+"/rotate", bytes.NewReader(body))
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct{ Attributes map[string]any }
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	token, _ := doc.Data.Attributes["token"].(string)
	if err != nil || resp.StatusCode != http.StatusCreated || token == "" {
		s.tb.Fatalf("tokendtest: rotate: %s, %v", resp.Status, err)
	}
	return token
}

// Scopes joins scopes for Mint.
func Scopes(s ...string) string { return strings.Join(s, " ") }
