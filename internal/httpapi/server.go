// Package httpapi is tokend's HTTP interface: the JSON:API endpoints for API
// tokens and users, the published verification keys, and the health
// endpoints. Handlers decode and check requests, call the service, and encode
// its answers; every error becomes a JSON:API error document through one
// table in errors.go.
package httpapi

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/console"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/internal/secretscan"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/clientip"
)

// Config holds the HTTP layer's settings.
type Config struct {
	// DB is the database handle whose connection pool /metrics reports;
	// nil reports none.
	DB *sql.DB
	// PublicURL is the base of the links tokend writes, such as
	// https://tokens.example.com. When empty, links start with the
	// address the request's connection reached, such as
	// http://127.0.0.1:8080.
	PublicURL string
	// Proxies decides which peers' forwarding headers to believe.
	Proxies *clientip.Resolver
	// BodyLimit is the largest request body accepted.
	BodyLimit int64
	// RequestTimeout bounds the work, database calls included, done for
	// one request.
	RequestTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AuthFailures limits the failed authentications (401s) from one
	// client address; TokenCreates the tokens one user creates through
	// the API. The zero Rule is no limit. Both are per replica.
	AuthFailures, TokenCreates ratelimit.Rule
	// Revocations limits POST /revoke per client address, per replica,
	// and unsigned secret scanning reports with it.
	Revocations ratelimit.Rule
	// SecretScanningKeys verify the signatures of secret scanning reports
	// (POST /secret-scanning/reports); nil accepts them unsigned.
	SecretScanningKeys *secretscan.Keys
	// Refusals counts the refused authentications for the audit log; nil
	// counts none.
	Refusals *audit.Refusals
	// CORSOrigins are the browser origins, such as
	// https://dashboard.example.com, allowed to call tokend from their
	// pages; none means no cross-origin access.
	CORSOrigins []string
	// Webhooks manages webhooks; nil serves none.
	Webhooks *service.Webhooks
}

// DefaultBodyLimit is the largest request body tokend accepts by default.
const DefaultBodyLimit = 64 << 10

// Server serves tokend's HTTP API.
type Server struct {
	echo    *echo.Echo
	svc     *service.Service
	log     *slog.Logger
	cfg     Config
	now     func() time.Time
	metrics *metrics
	// authFailures and revokes apply cfg's rules per client address,
	// tokenCreates per user id.
	authFailures, revokes *ratelimit.Limiter[netip.Addr]
	tokenCreates          *ratelimit.Limiter[string]
	// idPrefix and requests make request ids: see requestID.
	idPrefix string
	requests atomic.Uint64
	// consoleFiles are the web console's.
	consoleFiles *console.Files
}

// NewServer returns the HTTP handler for the service.
func NewServer(log *slog.Logger, cfg Config, svc *service.Service) *Server {
	if cfg.Proxies == nil {
		cfg.Proxies = clientip.New(nil)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	prefix := make([]byte, 4)
	rand.Read(prefix)
	s := &Server{echo: e, svc: svc, log: log, cfg: cfg, now: now, metrics: newMetrics(cfg.DB, svc.PurgedTokens),
		idPrefix:     hex.EncodeToString(prefix) + "-",
		authFailures: ratelimit.New[netip.Addr](cfg.AuthFailures), revokes: ratelimit.New[netip.Addr](cfg.Revocations),
		tokenCreates: ratelimit.New[string](cfg.TokenCreates), consoleFiles: console.New()}
	e.HTTPErrorHandler = s.handleError
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.echo.ServeHTTP(w, r)
}

// baseURL returns the scheme and host links start with: PublicURL, or
// else the address the request's connection reached, never anything the
// request's headers say (a Host or X-Forwarded-Host header is the
// client's to choose).
func (s *Server) baseURL(c echo.Context) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	r := c.Request()
	scheme, host := "http", "localhost"
	if r.TLS != nil {
		scheme = "https"
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			host = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()).String()
		}
	}
	return scheme + "://" + host
}

// ctx returns the request's context.
func ctx(c echo.Context) context.Context { return c.Request().Context() }
