package dbtest

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
)

// MixedTokens returns n tokens of the user, signed by the key, for
// seeding databases: of every ten, seven are active, one disabled, one
// revoked and one expired; creations spread over the year before now,
// oldest first, and expirations over the year after it.
func MixedTokens(userID, keyID string, n int, now time.Time) []apitoken.Token {
	out := make([]apitoken.Token, n)
	step := 366 * 24 * time.Hour / time.Duration(n) // creations spread over a year, oldest first
	for i := range out {
		created := now.Add(-time.Duration(n-i) * step)
		hash := make([]byte, 32)
		rand.Read(hash)
		t := apitoken.Token{
			ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, KeyID: keyID, Hash: hash,
			Description: fmt.Sprintf("seeded token %d", i), Scope: "customers accounts",
			Enabled: true, CreatedAt: created, UpdatedAt: created,
			Expiration: now.Add(time.Duration(i%365+1) * 24 * time.Hour).Truncate(time.Second),
		}
		switch i % 10 {
		case 7:
			t.Enabled = false
		case 8:
			revoked := created.Add(time.Hour)
			t.RevokedAt, t.UpdatedAt = &revoked, revoked
		case 9:
			t.Expiration = created.Add(time.Hour).Truncate(time.Second)
		}
		t.ClaimExpiration = t.Expiration
		out[i] = t
	}
	return out
}
