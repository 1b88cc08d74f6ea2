package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/errcode"
)

type echoMiddleware = echo.MiddlewareFunc

// recoverPanics turns a panic into a 500 response and a log line with the
// stack; the client sees only "Internal error.".
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx(c), "panic", "request_id", requestID(c), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = &apitoken.Error{Code: apitoken.Internal, Err: fmt.Errorf("panic: %v", v)}
			}
		}()
		return next(c)
	}
}

const requestIDKey = "request_id"

// requestID gives every request an id, the caller's X-Request-Id when it is
// a sensible one, and returns it in the response. The ids tokend makes are
// the server's random prefix and a counter: unique, and cheap to make.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = s.idPrefix + strconv.FormatUint(s.requests.Add(1), 36)
		}
		c.Set(requestIDKey, id)
		c.Response().Header()["X-Request-Id"] = []string{id}
		return next(c)
	}
}

// validRequestID reports whether a client's request id is 1 to 64 letters,
// digits, dots, underscores or hyphens: safe to log and to echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

const clientIPKey = "client_ip"

// resolveClientIP finds the address the request came from, behind the
// trusted proxies, once for every later use.
func (s *Server) resolveClientIP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(clientIPKey, s.cfg.Proxies.ClientIP(c.Request()))
		return next(c)
	}
}

// clientIP returns the address the request came from, resolved once per
// request behind the trusted proxies.
func clientIP(c echo.Context) netip.Addr {
	ip, _ := c.Get(clientIPKey).(netip.Addr)
	return ip
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// accessLog logs one line per request, and counts it in the metrics. It
// logs the path without the query string and never a header, so no token
// reaches the log.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took := s.now().Sub(start)
		s.metrics.observe(c, took)
		r, res := c.Request(), c.Response()
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelWarn
		}
		if !s.log.Enabled(ctx(c), level) {
			return nil
		}
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", c.Path()),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("client_ip", clientIP(c).String()),
			slog.String("request_id", requestID(c)),
		)
		if p := principalOf(c); p != nil {
			attrs = append(attrs, slog.String("user_id", p.User.ID), slog.String("token_id", p.Token.ID))
		}
		s.log.LogAttrs(ctx(c), level, "request", attrs...)
		return nil
	}
}

// limitBody refuses a body larger than the limit: at once when its length
// is declared, and when reading passes the limit otherwise.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.cfg.BodyLimit {
			return requestErrorf(errcode.PayloadTooLarge, "The request body is larger than %d bytes.", s.cfg.BodyLimit)
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.BodyLimit)
		return next(c)
	}
}

// timeout bounds the time a request may spend, database calls included, so
// that an unreachable database yields 503 rather than a hung request.
func (s *Server) timeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tctx, cancel := context.WithTimeout(ctx(c), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(tctx))
		return next(c)
	}
}
