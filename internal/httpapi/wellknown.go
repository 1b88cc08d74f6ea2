package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/paserk"
)

// KeySet is the document GET /.well-known/paseto-keys serves: tokend's
// verification keys as PASERK strings, with their state. Downstream
// verifiers trust a token only if the key its footer names is listed here
// as active or retiring.
type KeySet struct {
	Issuer string `json:"issuer"`
	Keys   []Key  `json:"keys"`
}

// Key is one entry of a KeySet.
type Key struct {
	// KID is the PASERK k2.pid id that tokens name in their footer.
	KID     string `json:"kid"`
	Version string `json:"version"`
	Purpose string `json:"purpose"`
	// PASERK is the public key as a k2.public PASERK.
	PASERK string `json:"paserk"`
	// Status is active (signs and verifies), retiring (verifies only) or
	// retired (verifies nothing).
	Status    string  `json:"status"`
	CreatedAt string  `json:"createdAt"`
	RotatedAt *string `json:"rotatedAt,omitempty"`
	RetireAt  *string `json:"retireAt,omitempty"`
	RetiredAt *string `json:"retiredAt,omitempty"`
}

// pasetoKeys serves the public keys, cacheably: with an ETag, and 304 to a
// client that already holds the current set. It answers from memory, so
// downstream verifiers keep getting keys while the database is away.
func (s *Server) pasetoKeys(c echo.Context) error {
	recs := s.svc.SigningKeys()
	now := s.now()
	set := KeySet{Issuer: s.svc.Issuer(), Keys: make([]Key, 0, len(recs))}
	for _, r := range recs {
		set.Keys = append(set.Keys, Key{
			KID:       r.ID,
			Version:   "v2",
			Purpose:   "public",
			PASERK:    paserk.EncodePublic(r.PublicKey),
			Status:    string(r.StatusAt(now)),
			CreatedAt: apitoken.FormatTime(r.CreatedAt),
			RotatedAt: formatTimePtr(r.RotatedAt),
			RetireAt:  formatTimePtr(r.RetireAt),
			RetiredAt: formatTimePtr(r.RetiredAt),
		})
	}
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=60, must-revalidate")
	for _, tag := range strings.Split(c.Request().Header.Get("If-None-Match"), ",") {
		if t := strings.TrimSpace(tag); t == etag || t == "W/"+etag || t == "*" {
			return c.NoContent(http.StatusNotModified)
		}
	}
	h.Set("Content-Type", "application/json")
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(append(body, '\n'))
	return err
}

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := apitoken.FormatTime(*t)
	return &s
}
