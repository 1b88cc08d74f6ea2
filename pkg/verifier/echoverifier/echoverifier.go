// Package echoverifier is Echo middleware that requires tokend tokens with
// given scopes, on top of package verifier.
package echoverifier

import (
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/pkg/verifier"
)

// ContextKey is the echo.Context key holding the verified token's claims.
const ContextKey = "tokend.claims"

// RequireScopes returns Echo middleware that passes on only requests whose
// bearer token v accepts with every one of the scopes. The handler finds the
// token's claims with Claims(c), or with verifier.FromContext on the
// request's context. Refused requests get verifier.WriteError's answer.
func RequireScopes(v *verifier.Verifier, scopes ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims, err := v.Check(c.Request(), scopes...)
			if err != nil {
				verifier.WriteError(c.Response(), err, scopes)
				return nil
			}
			c.Set(ContextKey, claims)
			c.SetRequest(c.Request().WithContext(verifier.NewContext(c.Request().Context(), claims)))
			return next(c)
		}
	}
}

// Claims returns the claims RequireScopes verified for the request. They
// are shared with other requests presenting the same token and must not
// be modified.
func Claims(c echo.Context) (*verifier.Claims, bool) {
	claims, ok := c.Get(ContextKey).(*verifier.Claims)
	return claims, ok
}
