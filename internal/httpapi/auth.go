package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// authenticate requires a valid bearer token and makes its principal
// available to the handler. A request its token was good for (neither 401
// nor 403) counts as a use of the token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := bearerToken(c.Request())
		if err != nil {
			return err
		}
		p, err := s.svc.Authenticate(ctx(c), raw, clientIP(c))
		if err != nil {
			return err
		}
		setPrincipal(c, p)
		err = next(c)
		if code := apitoken.ErrorCode(err); code != apitoken.Unauthorized && code != apitoken.Forbidden {
			s.svc.RecordUse(p)
		}
		return err
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
