package httpapi

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/verifier"
)

// authenticate requires a valid bearer token and makes its principal
// available to the handler. A request its token was good for (neither 401
// nor 403) counts as a use of the token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticateRequest(c)
		if err != nil {
			return err
		}
		err = next(c)
		if code := apitoken.ErrorCode(err); code != apitoken.Unauthorized && code != apitoken.Forbidden {
			s.recordUse(c, p)
		}
		return err
	}
}

// recordUse records a use of the principal's token (service.RecordUse).
// A rotated token's retirement that failed is logged, not the request's
// failure: the token worked, and its next use retires the old one.
func (s *Server) recordUse(c echo.Context, p *service.Principal) {
	if err := s.svc.RecordUse(ctx(c), p); err != nil {
		s.log.WarnContext(ctx(c), "retire the token a rotation replaced", "request_id", requestID(c), "token_id", p.Token.ID, "err", err)
	}
}

// authenticateRequest authenticates the request's bearer token and makes
// its principal available to the rest of the request. A client address
// that failed authentication too often lately is refused with 429 before
// its token is looked at; every 401 counts as one failure.
func (s *Server) authenticateRequest(c echo.Context) (*service.Principal, error) {
	ip, now := clientIP(c), s.now()
	if ok, retry := s.authFailures.Check(ip, now); !ok {
		s.refused(c, ip, reasonRateLimited, now)
		return nil, rateLimitedf(retry, "Too many failed authentications from this address; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	raw, err := bearerToken(c.Request())
	var p *service.Principal
	if err == nil {
		p, err = s.svc.Authenticate(ctx(c), raw, ip)
	}
	if err != nil {
		switch apitoken.ErrorCode(err) {
		case apitoken.Unauthorized:
			s.authFailures.Take(ip, now)
			s.refused(c, ip, refusalReason(err), now)
		case apitoken.Forbidden:
			s.refused(c, ip, reasonSourceIP, now)
		}
		return nil, err
	}
	r := c.Request()
	p.UserAgent = r.UserAgent()
	setPrincipal(c, p)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The changes the request makes are recorded as the principal's.
		// A read (GET /auth above all, the hot path) is spared the copy
		// of the request this costs: the one change it may make, the
		// retirement of its token's predecessor, carries its actor itself
		// (service's RecordUse).
		c.SetRequest(r.WithContext(audit.WithActor(ctx(c), p.Actor())))
	}
	return p, nil
}

// addrString returns the address as text, "" if it is not valid.
func addrString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// The reasons of refused authentications that the audit log counts
// (audit.Refusals): a short code each, from a fixed set, so that the
// events are few and can be filtered.
const (
	reasonRateLimited = "rate_limited"
	reasonSourceIP    = "source_ip_not_allowed"
	reasonOther       = "unauthorized"
)

// refusalReasons maps the details of the service's unauthorized errors to
// their reasons.
var refusalReasons = map[string]string{
	"Only v2.public tokens are accepted.":                                "unsupported_token",
	"The token is signed by a key tokend does not know, or has retired.": "unknown_key",
	"The token's signature is invalid.":                                  "bad_signature",
	"The token was issued by another issuer.":                            "wrong_issuer",
	"The token has expired.":                                             "expired",
	"The token is not valid yet.":                                        "not_yet_valid",
	"The token is malformed.":                                            "malformed",
	"The token has been revoked.":                                        "revoked",
	"The token is disabled.":                                             "disabled",
	"The token's user is disabled.":                                      "user_disabled",
	"The token is not known.":                                            "unknown_token",
}

// refusalReason returns the reason of an unauthorized error: a missing
// or malformed header is missing_token.
func refusalReason(err error) string {
	var e *apitoken.Error
	if !errors.As(err, &e) {
		return reasonOther
	}
	if r, ok := refusalReasons[e.Detail]; ok {
		return r
	}
	if strings.Contains(e.Detail, "Authorization") {
		return "missing_token"
	}
	return reasonOther
}

// refused counts a refused authentication for the audit log, if it is
// kept.
func (s *Server) refused(c echo.Context, ip netip.Addr, reason string, at time.Time) {
	if s.cfg.Refusals != nil {
		s.cfg.Refusals.Add(addrString(ip), reason, c.Request().UserAgent(), at)
	}
}

// bearerToken returns the token of an "Authorization: Bearer" header, as
// verifier.BearerToken parses it, or an unauthorized error that says what
// was wrong. Tokens anywhere else, such as the query string, are not looked
// at.
func bearerToken(r *http.Request) (string, error) {
	token, err := verifier.BearerToken(r)
	if err == nil {
		return token, nil
	}
	detail := "The Authorization header must be \"Bearer\" followed by the token."
	switch n := len(r.Header.Values("Authorization")); {
	case n == 0:
		detail = "Send the token in an Authorization: Bearer header."
		if q := r.URL.Query(); q.Has("access_token") || q.Has("token") {
			detail = "Tokens in the query string are refused; send the token in an Authorization: Bearer header."
		}
	case n > 1:
		detail = "Send exactly one Authorization header."
	}
	return "", apitoken.Errorf(apitoken.Unauthorized, "%s", detail)
}
