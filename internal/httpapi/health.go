package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz answers as long as the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, "application/json", map[string]string{"status": "ok"})
}

// readyz answers 200 when the server can vouch for tokens and the database
// answers, 503 otherwise; while an outage is known, at once.
func (s *Server) readyz(c echo.Context) error {
	pctx, cancel := context.WithTimeout(ctx(c), 2*time.Second)
	defer cancel()
	c.Response().Header().Set("Cache-Control", "no-store")
	if err := s.svc.Ready(pctx); err != nil {
		s.log.WarnContext(ctx(c), "not ready", "err", err)
		return writeJSON(c, http.StatusServiceUnavailable, "application/json",
			map[string]string{"status": "unavailable", "detail": "The database is unreachable, or the server cannot confirm the state of tokens."})
	}
	return writeJSON(c, http.StatusOK, "application/json", map[string]string{"status": "ready"})
}
