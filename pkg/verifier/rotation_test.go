package verifier_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/verifier"
)

// TestSyncedVerifierLearnsOfRotations checks that a verifier synced from
// tokend's revocation feed learns that a rotated token retires, as a
// shortened expiration: at once, or at the new token's first use at
// tokend.
func TestSyncedVerifierLearnsOfRotations(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	clock := newTestClock(time.Now())
	v := newSynced(t, srv, func(c *verifier.Config) {
		c.Now, c.Leeway, c.MaxStaleness = clock.Now, time.Minute, time.Hour
	})
	user := srv.User(apitoken.RoleMember)
	used := func(token string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/auth?scope=customers", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a use of the new token at tokend: %v, %v", resp, err)
		}
		resp.Body.Close()
	}

	t.Run("a token retired at once expires from the next sync on", func(t *testing.T) {
		old, id := srv.Mint(user, "customers")
		fresh := srv.Rotate(user, id, map[string]any{})
		mustSync(t, v)
		clock.Advance(2 * time.Minute) // past the leeway
		if _, err := v.Verify(old, loopback); !errors.Is(err, verifier.ErrExpired) {
			t.Fatalf("the old token: %v, want %v", err, verifier.ErrExpired)
		}
		if _, err := v.Verify(fresh, loopback, "customers"); err != nil {
			t.Fatalf("the new token: %v", err)
		}
	})
	t.Run("a token retired at the new one's first use expires then", func(t *testing.T) {
		old, id := srv.Mint(user, "customers")
		fresh := srv.Rotate(user, id, map[string]any{
			"previousExpiration":       time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"retirePreviousOnFirstUse": true,
		})
		mustSync(t, v)
		clock.Advance(2 * time.Minute)
		if _, err := v.Verify(old, loopback); err != nil {
			t.Fatalf("the old token in its grace window: %v", err)
		}
		used(fresh)
		mustSync(t, v)
		clock.Advance(2 * time.Minute)
		if _, err := v.Verify(old, loopback); !errors.Is(err, verifier.ErrExpired) {
			t.Fatalf("the old token after the new one's first use: %v, want %v", err, verifier.ErrExpired)
		}
	})
}
