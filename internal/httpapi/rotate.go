package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/ratelimit"
)

// apiTokenRotationInput is a rotation request document's resource object.
type apiTokenRotationInput struct {
	ID                       string  `jsonapi:"primary,apiTokenRotation"`
	Expiration               *string `jsonapi:"attr,expiration"`
	PreviousExpiration       *string `jsonapi:"attr,previousExpiration"`
	RetirePreviousOnFirstUse *bool   `jsonapi:"attr,retirePreviousOnFirstUse"`
}

var rotateTokenShape = shape{
	typ: "apiTokenRotation",
	attrs: map[string]attrKind{
		"expiration":               kindString,
		"previousExpiration":       kindString,
		"retirePreviousOnFirstUse": kindBool,
	},
}

// rotateToken handles POST /users/:userId/api-tokens/:tokenId/rotate: it
// replaces the token with a new one, which it answers with, token string
// included, as a create does. The body is optional: without one, the new
// token gets the old one's lifetime from now and the old one retires at
// once.
func (s *Server) rotateToken(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	p, userID, tokenID := principalOf(c), c.Param("userId"), c.Param("tokenId")
	if err := s.svc.MayWriteTokens(ctx(c), p, userID, tokenID); err != nil {
		return err
	}
	if ok, retry := s.tokenCreates.Take(p.User.ID, s.now()); !ok {
		return rateLimitedf(retry, "Too many tokens created by this user lately; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	var req apitoken.RotationRequest
	if r := c.Request(); r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		var in apiTokenRotationInput
		attrErrs, err := decodeDocument(c, rotateTokenShape, "", &in)
		if err != nil {
			return err
		}
		req = apitoken.RotationRequest{Expiration: in.Expiration, PreviousExpiration: in.PreviousExpiration,
			RetirePreviousOnFirstUse: in.RetirePreviousOnFirstUse}
		if len(attrErrs) > 0 {
			// Report the other attributes' problems too; the checks
			// against the token wait for a well-formed document.
			_, verr := req.Validate(nil, s.svc.TokenPolicy(), time.Time{})
			return withAttributeErrors(attrErrs, verr)
		}
	}
	t, raw, err := s.svc.RotateToken(ctx(c), p, userID, tokenID, req)
	if err != nil {
		return err
	}
	return s.writeCreatedToken(c, &t, raw)
}

// revokeAllTokens handles DELETE /users/:userId/api-tokens: it revokes
// every token of the user that works or could again, and answers with how
// many, as a document of meta alone: {"meta":{"revoked":N}}.
func (s *Server) revokeAllTokens(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	n, err := s.svc.RevokeAllTokens(ctx(c), principalOf(c), c.Param("userId"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeJSON(c, http.StatusOK, mediaType, map[string]any{"meta": map[string]int{"revoked": n}})
}
