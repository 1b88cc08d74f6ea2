package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokend/tokend/pkg/errcode"
)

// ErrNoToken means the request carries no bearer token.
var ErrNoToken = errors.New("request has no bearer token")

type contextKey struct{}

// NewContext returns a context carrying the claims of a verified token.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the claims the middleware verified for the request:
// the token's subject (Subject), id (ID) and scopes (Scopes()). They are
// shared with other requests presenting the same token and must not be
// modified.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(contextKey{}).(*Claims)
	return c, ok
}

// BearerToken returns the token of the request's "Authorization: Bearer"
// header. Tokens anywhere else, such as the query string, are ignored.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", ErrNoToken
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", ErrNoToken
	}
	return token, nil
}

// Check verifies the request's bearer token for the scopes; the client
// address is the peer's, or the X-Forwarded-For client's when the peer is
// one of Config.TrustedProxies. It is what RequireScopes runs, for
// frameworks that need it on its own.
func (v *Verifier) Check(r *http.Request, scopes ...string) (*Claims, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(raw, v.proxies.ClientIP(r), scopes...)
}

// RequireScopes returns net/http middleware that passes on only requests
// whose bearer token is valid and holds every one of the scopes. The
// handler finds the token's claims with FromContext. Refused requests get
// WriteError's answer.
func (v *Verifier) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.Check(r, scopes...)
			if err != nil {
				WriteError(w, err, scopes)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}

// WriteError answers a request whose token Check refused: 401 with an RFC
// 6750 invalid_token challenge for a missing or invalid token, 403 with
// insufficient_scope (and the scopes required) for a valid token that may
// not make the request, and 503 when the revocation state is stale. The
// body is a JSON:API error document whose status and title are those
// package errcode gives the code.
func WriteError(w http.ResponseWriter, err error, scopes []string) {
	code, challenge := errcode.Unauthorized, `Bearer realm="tokend", error="invalid_token"`
	var scopeErr *ScopeError
	switch {
	case errors.Is(err, ErrNoToken):
		challenge = `Bearer realm="tokend"`
	case errors.As(err, &scopeErr), errors.Is(err, ErrSourceIP):
		code = errcode.Forbidden
		challenge = `Bearer realm="tokend", error="insufficient_scope"`
		if len(scopes) > 0 {
			challenge += fmt.Sprintf(", scope=%q", strings.Join(scopes, " "))
		}
	case errors.Is(err, ErrStale):
		code, challenge = errcode.Unavailable, ""
		w.Header().Set("Retry-After", "5")
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/vnd.api+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code.Status())
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{
		"status": strconv.Itoa(code.Status()),
		"code":   string(code),
		"title":  code.Title(),
		"detail": detail(err),
	}}})
}

func detail(err error) string {
	s := err.Error()
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
