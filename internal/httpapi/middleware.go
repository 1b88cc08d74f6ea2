package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/errcode"
)

type echoMiddleware = echo.MiddlewareFunc

// exchange is what tokend knows of a request in flight: its id, the
// address it came from, and, once its token is authenticated, the caller.
type exchange struct {
	id        string
	clientIP  netip.Addr
	principal *service.Principal
	// refusal says why a request was refused (401, 403, 429), for the
	// access log: the error's detail, which names no secret.
	refusal string
}

const exchangeKey = "tokend.exchange"

// exchangeOf returns the request's exchange, which track set.
func exchangeOf(c echo.Context) *exchange {
	x, _ := c.Get(exchangeKey).(*exchange)
	if x == nil {
		return &exchange{}
	}
	return x
}

func requestID(c echo.Context) string                   { return exchangeOf(c).id }
func clientIP(c echo.Context) netip.Addr                { return exchangeOf(c).clientIP }
func principalOf(c echo.Context) *service.Principal     { return exchangeOf(c).principal }
func setPrincipal(c echo.Context, p *service.Principal) { exchangeOf(c).principal = p }

// track is the middleware every request goes through, one layer for what
// every request needs: it gives the request an id (the caller's
// X-Request-Id when it is a sensible one) and returns it in the response;
// resolves the address the request came from, behind the trusted proxies,
// once for every later use; turns a panic into a 500 and a log line with
// the stack; and, when the request is done, counts it in the metrics and
// logs one line. The access log has the path without the query string and
// never a header, so no token reaches it.
func (s *Server) track(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.now()
		r := c.Request()
		x := &exchange{id: r.Header.Get("X-Request-Id"), clientIP: s.cfg.Proxies.ClientIP(r)}
		if !validRequestID(x.id) {
			// The server's random prefix and a counter: unique, and
			// cheap to make.
			x.id = s.idPrefix + strconv.FormatUint(s.requests.Add(1), 36)
		}
		c.Set(exchangeKey, x)
		c.Response().Header()["X-Request-Id"] = []string{x.id}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// The changes a request makes are recorded with its client's
			// address and agent, and its principal's ids once it
			// authenticated (authenticateRequest).
			c.SetRequest(r.WithContext(audit.WithActor(r.Context(), audit.Actor{
				SourceIP: addrString(x.clientIP), UserAgent: r.UserAgent()})))
		}
		if err := s.recovering(c, next); err != nil {
			c.Error(err)
		}
		s.logRequest(c, x, s.now().Sub(start))
		return nil
	}
}

// recovering calls next, and turns a panic into an internal error; the
// client sees only "Internal error.".
func (s *Server) recovering(c echo.Context, next echo.HandlerFunc) (err error) {
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

// logRequest counts a request done in the metrics and logs its line.
func (s *Server) logRequest(c echo.Context, x *exchange, took time.Duration) {
	s.metrics.observe(c, took)
	r, res := c.Request(), c.Response()
	level := slog.LevelInfo
	if res.Status >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx(c), level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", loggedPath(r.URL.Path)),
		slog.String("route", c.Path()),
		slog.Int("status", res.Status),
		slog.Int64("bytes", res.Size),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("client_ip", x.clientIP.String()),
		slog.String("request_id", x.id),
	)
	if p := x.principal; p != nil {
		attrs = append(attrs, slog.String("user_id", p.User.ID), slog.String("token_id", p.Token.ID))
	}
	if x.refusal != "" {
		attrs = append(attrs, slog.String("refusal", x.refusal))
	}
	s.log.LogAttrs(ctx(c), level, "request", attrs...)
}

// loggedPath returns the path with every segment that could be a secret
// replaced by "[redacted]" (see secretShaped).
func loggedPath(p string) string {
	found := false
	for seg := range strings.SplitSeq(p, "/") {
		found = found || secretShaped(seg)
	}
	if !found {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if secretShaped(seg) {
			segs[i] = "[redacted]"
		}
	}
	return strings.Join(segs, "/")
}

// secretShaped reports a path segment that may be a token or key pasted
// into a URL: PASETO and PASERK strings hold ".public.", ".local." or
// ".secret.", and no tokend path segment is longer than 64 bytes (ids are
// 36), so anything longer is taken for a secret too.
func secretShaped(seg string) bool {
	return len(seg) > 64 || strings.Contains(seg, ".public.") || strings.Contains(seg, ".local.") || strings.Contains(seg, ".secret.")
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

// limitBody refuses a body larger than the configured limit.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return limitBodyTo(s.cfg.BodyLimit)(next)
}

// limitBodyTo refuses a body larger than limit bytes: at once when its
// length is declared, and when reading passes the limit otherwise.
func limitBodyTo(limit int64) echoMiddleware {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return requestErrorf(errcode.PayloadTooLarge, "The request body is larger than %d bytes.", limit)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			return next(c)
		}
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
