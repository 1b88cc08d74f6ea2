package httpapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
)

const principalKey = "principal"

// authenticate requires a valid bearer token and makes its principal
// available to the handler.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := bearerToken(c.Request())
		if err != nil {
			return err
		}
		p, err := s.svc.Authenticate(ctx(c), raw, s.cfg.Proxies.ClientIP(c.Request()))
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func principalOf(c echo.Context) *service.Principal {
	p, _ := c.Get(principalKey).(*service.Principal)
	return p
}

// bearerToken returns the token of an "Authorization: Bearer" header.
// Tokens anywhere else, such as the query string, are not looked at.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		detail := "Send the token in an Authorization: Bearer header."
		if q := r.URL.Query(); q.Has("access_token") || q.Has("token") {
			detail = "Tokens in the query string are refused; send the token in an Authorization: Bearer header."
		}
		return "", apitoken.Errorf(apitoken.Unauthorized, "%s", detail)
	}
	if len(values) > 1 {
		return "", apitoken.Errorf(apitoken.Unauthorized, "Send exactly one Authorization header.")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", apitoken.Errorf(apitoken.Unauthorized, "The Authorization header must be \"Bearer\" followed by the token.")
	}
	return token, nil
}
