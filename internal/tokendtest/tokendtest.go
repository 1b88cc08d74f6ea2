// Package tokendtest starts a real tokend for tests of the things around it
// (downstream verifiers, the example service, gateways): the real HTTP
// server on a loopback listener, over a fresh migrated database, with
// real signing keys and a bootstrap admin.
package tokendtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/httpapi"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/clientip"
	"github.com/tokend/tokend/schema"
)

// Secret is the TOKEND_SECRET test servers use.
const Secret = "tokendtest-secret-tokendtest-secret-0123"

// Options change how Start builds the server.
type Options struct {
	// DatabaseURL defaults to a fresh SQLite file.
	DatabaseURL string
	// TrustedProxies is a comma-separated list, as in TOKEND_TRUSTED_PROXIES.
	TrustedProxies string
	// Listener, when set, is the listener to serve on.
	Listener net.Listener
	// Logs receives the server's JSON logs; nil discards them.
	Logs io.Writer
	// MaxLifetime defaults to 366 days.
	MaxLifetime time.Duration
	// RequestTimeout defaults to the server's own default.
	RequestTimeout time.Duration
}

// Server is a running tokend.
type Server struct {
	URL     string
	Store   *store.Store
	Ring    *keys.Ring
	Service *service.Service

	AdminID    string
	AdminToken string
	tb         testing.TB
	http       *httptest.Server
}

// Close stops the server at once, as if tokend became unreachable.
func (s *Server) Close() {
	s.http.CloseClientConnections()
	s.http.Close()
}

// Start starts a tokend, stopped when the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	if opt.DatabaseURL == "" {
		opt.DatabaseURL = dbtest.NewURL(tb, store.SQLite)
	}
	st := dbtest.MustOpenURL(tb, opt.DatabaseURL)
	catalog, err := apitoken.ParseCatalog(schema.Scopes)
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := keys.NewSealer(Secret)
	if err != nil {
		tb.Fatal(err)
	}
	ring := keys.NewRing(st.Keys, sealer, nil)
	if err := ring.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if opt.MaxLifetime == 0 {
		opt.MaxLifetime = 366 * 24 * time.Hour
	}
	svc := service.New(st, ring, catalog, service.Config{Issuer: "tokend", MaxLifetime: opt.MaxLifetime})
	proxies, err := clientip.ParsePrefixes(opt.TrustedProxies)
	if err != nil {
		tb.Fatal(err)
	}
	if opt.Logs == nil {
		opt.Logs = io.Discard
	}
	handler := httpapi.NewServer(slog.New(slog.NewJSONHandler(opt.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		httpapi.Config{Proxies: clientip.New(proxies), RequestTimeout: opt.RequestTimeout}, svc)
	srv := httptest.NewUnstartedServer(handler)
	if opt.Listener != nil {
		srv.Listener.Close()
		srv.Listener = opt.Listener
	}
	srv.Start()
	tb.Cleanup(srv.Close)

	admin, token, err := svc.Bootstrap(context.Background())
	if err != nil || token == "" {
		tb.Fatalf("tokendtest: bootstrap: %v", err)
	}
	return &Server{URL: srv.URL, Store: st, Ring: ring, Service: svc, AdminID: admin.ID, AdminToken: token, tb: tb, http: srv}
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

// Scopes joins scopes for Mint.
func Scopes(s ...string) string { return strings.Join(s, " ") }
