package httpapi

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/pkg/errcode"
)

// introspection is an RFC 7662 introspection response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Username  string `json:"username,omitempty"`
	// SourceIP and Resources are the token's restrictions, when it has any.
	SourceIP  string `json:"sourceIp,omitempty"`
	Resources any    `json:"resources,omitempty"`
}

// introspect handles POST /introspect (RFC 7662): the form field token is
// the token to check, and client_ip, optionally, the address the caller saw
// it used from. The caller authenticates with a token holding introspect.
func (s *Server) introspect(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	var errs apitoken.Errors
	raw := form.Get("token")
	if raw == "" {
		errs = append(errs, &apitoken.Error{Code: apitoken.Invalid, Parameter: "token", Detail: "The form field token is required."})
	}
	var clientIP netip.Addr
	if v := form.Get("client_ip"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			errs = append(errs, &apitoken.Error{Code: apitoken.Invalid, Parameter: "client_ip", Detail: "client_ip must be an IP address."})
		}
		clientIP = a.Unmap()
	}
	if len(errs) > 0 {
		return errs
	}
	p, err := s.svc.Introspect(ctx(c), principalOf(c), raw, clientIP)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if p == nil {
		return writeJSON(c, http.StatusOK, "application/json", introspection{Active: false})
	}
	s.recordUse(c, p)
	res := introspection{
		Active:    true,
		Scope:     strings.Join(p.Scopes, " "),
		TokenType: "Bearer",
		Sub:       p.User.ID,
		Jti:       p.Token.ID,
		Iss:       s.svc.Issuer(),
		Exp:       p.Token.Expiration.Unix(),
		Iat:       p.Token.CreatedAt.Unix(),
		Nbf:       p.Token.CreatedAt.Unix(),
		Username:  p.User.Email,
		SourceIP:  p.Token.SourceIP,
	}
	if len(p.Token.Resources) > 0 {
		res.Resources = p.Token.Resources
	}
	return writeJSON(c, http.StatusOK, "application/json", res)
}

// ScopeHeader is the request header through which a gateway that cannot
// put a query string on its authorization request (Envoy's ext_authz) names
// the scopes a route requires.
const ScopeHeader = "X-Tokend-Scope"

// readForm reads the request's application/x-www-form-urlencoded body, as
// OAuth's endpoints (RFC 7662, RFC 7009) take it.
func readForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, requestErrorf(errcode.UnsupportedMediaType, "The request body must be application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, apitoken.Errorf(apitoken.Invalid, "The request body is not a valid form.")
	}
	return r.PostForm, nil
}

// revoke handles POST /revoke (RFC 7009): whoever holds a token may
// revoke it, with nothing but the token, as when it leaked. The answer is
// 200 whatever the token was, so that it tells nothing about it; the
// client address's requests are rate-limited. A request may also present
// a bearer token, as an OAuth client authenticates (RFC 7009, 2.1): one
// that does not authenticate is refused (401), and one that does adds
// nothing, since holding the token to revoke is authority enough.
func (s *Server) revoke(c echo.Context) error {
	if ok, retry := s.revokes.Take(clientIP(c), s.now()); !ok {
		return rateLimitedf(retry, "Too many revocations from this address lately; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	if len(c.Request().Header.Values("Authorization")) > 0 {
		if _, err := s.authenticateRequest(c); err != nil {
			return err
		}
	}
	form, err := readForm(c)
	if err != nil {
		return err
	}
	raw := form.Get("token")
	if raw == "" {
		return &apitoken.Error{Code: apitoken.Invalid, Parameter: "token", Detail: "The form field token is required."}
	}
	if err := s.svc.RevokeByValue(ctx(c), raw); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// forwardAuth handles /auth and /auth/*, for any method: the authorization
// request of nginx auth_request, Traefik ForwardAuth and Envoy ext_authz.
// It checks the forwarded Authorization header and that the token holds the
// required scopes, given as ?scope=a b (repeatable) or in ScopeHeader; the
// two only add up, so a client cannot lower a route's requirement. It
// answers 200 with the token's subject, id and scopes in X-Token-Subject,
// X-Token-Id and X-Token-Scope, or 401/403 with an RFC 6750 challenge.
func (s *Server) forwardAuth(c echo.Context) error {
	r := c.Request()
	required, err := requiredScopes(r)
	if err != nil {
		return err
	}
	p, err := s.authenticateRequest(c)
	if err != nil {
		return err
	}
	if missing := apitoken.Subtract(required, p.Scopes); len(missing) > 0 {
		return &apitoken.Error{Code: apitoken.Forbidden, Scope: strings.Join(required, " "),
			Detail: "The token lacks the " + apitoken.QuoteList(missing) + " scope."}
	}
	s.recordUse(c, p)
	h := c.Response().Header()
	// Canonical keys, set directly: this runs for every gateway request.
	h["X-Token-Subject"] = []string{p.User.ID}
	h["X-Token-Id"] = []string{p.Token.ID}
	h["X-Token-Scope"] = []string{strings.Join(p.Scopes, " ")}
	h["Cache-Control"] = noStore
	return c.NoContent(http.StatusOK)
}

// noStore is the Cache-Control of answers no cache may keep.
var noStore = []string{"no-store"}

// maxRequiredScopes bounds the scopes one authorization request may
// require: far more than any route needs, and few enough that the list
// costs nothing to check.
const maxRequiredScopes = 64

// requiredScopes returns the scopes a forward-auth request requires, from
// its scope query parameters and ScopeHeader, each once, in order. A
// malformed query string, or more than maxRequiredScopes, is a bad request.
func requiredScopes(r *http.Request) ([]string, error) {
	// A query that does not parse fails the check: dropping what could
	// not be read would drop the route's requirement with it.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, paramError("scope", "The query string is malformed; the required scopes cannot be read.")
	}
	lists := append(q["scope"], r.Header.Values(ScopeHeader)...)
	var required []string
	for _, list := range lists {
		for _, sc := range strings.Fields(list) {
			// A linear search, bounded by maxRequiredScopes.
			if slices.Contains(required, sc) {
				continue
			}
			if len(required) == maxRequiredScopes {
				return nil, paramError("scope", "An authorization request may require at most %d scopes.", maxRequiredScopes)
			}
			required = append(required, sc)
		}
	}
	return required, nil
}
