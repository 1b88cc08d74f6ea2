package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tokend/tokend/internal/secretscan"
)

// routes lists every route tokend serves. Every GET route answers HEAD
// too, with the same status and headers and no body (RFC 9110, 9.3.2).
func (s *Server) routes() {
	e := s.echo
	e.Use(s.track)
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(s.cors())
	}
	get := func(path string, h echo.HandlerFunc, m ...echoMiddleware) {
		e.Match([]string{http.MethodGet, http.MethodHead}, path, h, m...)
	}

	get("/healthz", s.healthz)
	get("/readyz", s.readyz)
	get("/metrics", s.metrics.handler())
	get("/.well-known/paseto-keys", s.pasetoKeys)
	get("/openapi.json", s.openAPI)

	e.POST("/introspect", s.introspect, s.timeout, s.limitBody, s.authenticate)
	e.POST("/revoke", s.revoke, s.timeout, s.limitBody)
	e.POST("/secret-scanning/reports", s.secretScanningReports, s.timeout, limitBodyTo(secretscan.MaxBody))
	get("/revocations", s.revocations, compressFeed, s.timeout, s.authenticate)
	// Gateways send the authorization request with the original method;
	// Envoy also appends the original path. It is the one hot route, and
	// takes no request timeout: it reads the database only on a token's
	// first use, and each database call has its own deadline.
	e.Any("/auth", s.forwardAuth)
	e.Any("/auth/*", s.forwardAuth)

	api := []echoMiddleware{s.timeout, s.limitBody, negotiate, s.authenticate}
	e.POST("/users/:userId/api-tokens", s.createToken, api...)
	get("/users/:userId/api-tokens", s.listTokens, api...)
	get("/users/:userId/api-tokens/:tokenId", s.getToken, api...)
	e.PATCH("/users/:userId/api-tokens/:tokenId", s.updateToken, api...)
	e.DELETE("/users/:userId/api-tokens/:tokenId", s.revokeToken, api...)
	e.DELETE("/users/:userId/api-tokens", s.revokeAllTokens, api...)
	e.POST("/users/:userId/api-tokens/:tokenId/rotate", s.rotateToken, api...)
	get("/api-tokens", s.listAllTokens, api...)

	e.POST("/users", s.createUser, api...)
	get("/users", s.listUsers, api...)
	get("/users/:userId", s.getUser, api...)
	e.PATCH("/users/:userId", s.updateUser, api...)

	e.POST("/webhooks", s.createWebhook, api...)
	get("/webhooks", s.listWebhooks, api...)
	get("/webhooks/:webhookId", s.getWebhook, api...)
	e.PATCH("/webhooks/:webhookId", s.updateWebhook, api...)
	e.DELETE("/webhooks/:webhookId", s.deleteWebhook, api...)
	get("/webhooks/:webhookId/deliveries", s.listDeliveries, api...)

	get("/audit-events", s.listAuditEvents, api...)
	get("/users/:userId/audit-events", s.listUserAuditEvents, api...)

	// The web console: static files that call the API above.
	get("/", s.toConsole)
	get("/console", s.toConsole)
	get("/console/*", s.console)
}

// cors answers preflight requests and marks the answers to the allowed
// origins (echo's CORS middleware): the methods and headers tokend's API
// uses, the token in Authorization, never cookies, so no credentials
// mode; the headers a client reads exposed.
func (s *Server) cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins: s.cfg.CORSOrigins,
		AllowMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowHeaders: []string{"Authorization", "Content-Type", "Accept", "X-Request-Id", ScopeHeader},
		ExposeHeaders: []string{"X-Request-Id", "Retry-After", "WWW-Authenticate", "ETag",
			"X-Token-Subject", "X-Token-Id", "X-Token-Scope"},
		MaxAge: 600,
	})
}
