package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
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
		return nil, rateLimitedf(retry, "Too many failed authentications from this address; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	raw, err := bearerToken(c.Request())
	var p *service.Principal
	if err == nil {
		p, err = s.svc.Authenticate(ctx(c), raw, ip)
	}
	if err != nil {
		if apitoken.ErrorCode(err) == apitoken.Unauthorized {
			s.authFailures.Take(ip, now)
		}
		return nil, err
	}
	p.UserAgent = c.Request().UserAgent()
	setPrincipal(c, p)
	return p, nil
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
