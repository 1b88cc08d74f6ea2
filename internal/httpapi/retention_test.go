package httpapi_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// TestRetentionPurgesTokensByTheServiceClock lets the server's clock run
// through a retention of ten days and purges at each step, as the hourly
// purge would: a token goes once it stopped working, by revocation or
// expiration, ten days ago, but a revoked token stays while its exp claim
// has not passed, listed by the revocation feed and refused as revoked;
// once purged, a token is refused by its exp claim, never looked up, and
// is not found through the API. The purge at start may run at any moment
// of the test, so the test checks which tokens are left after each step,
// and the count of all the purges together.
func TestRetentionPurgesTokensByTheServiceClock(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, options{dbURL: dbtest.NewURL(t, d), env: map[string]string{"TOKEND_TOKEN_RETENTION": "10d"}})
			h.Clock.Freeze()
			ctx := context.Background()
			t0 := h.Clock.Now()
			day := 24 * time.Hour
			caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect, expiration: t0.Add(300 * day)})
			member := h.user(apitoken.RoleMember)
			mint := func(exp time.Duration) (string, string) {
				return h.mint(member, tokenSpec{scope: "customers", expiration: t0.Add(exp)})
			}
			_, expiringID := mint(day)                   // stops working at t0+1d
			longRevoked, longRevokedID := mint(30 * day) // revoked at t0, its exp claim passes at t0+30d
			_, shortRevokedID := mint(2 * day)           // revoked at t0, its exp claim passes at t0+2d
			_, liveID := mint(300 * day)
			for _, id := range []string{longRevokedID, shortRevokedID} {
				h.do(req{method: "DELETE", path: tokensPath(member) + "/" + id, token: h.AdminToken}).expectStatus(t, 200, "")
			}

			// left checks that exactly the tokens of want are left.
			left := func(t *testing.T, want ...string) {
				t.Helper()
				for _, id := range []string{expiringID, longRevokedID, shortRevokedID, liveID} {
					_, err := h.Store.Tokens.Get(ctx, member, id)
					kept := slices.Contains(want, id)
					switch {
					case kept && err != nil:
						t.Errorf("token %s was purged (%v), want it kept", id, err)
					case !kept && apitoken.ErrorCode(err) != apitoken.NotFound:
						t.Errorf("token %s: %v, want it purged", id, err)
					}
				}
			}
			purge := func(t *testing.T) {
				t.Helper()
				if _, err := h.Service.PurgeTokens(ctx); err != nil {
					t.Fatal(err)
				}
			}
			refused := func(t *testing.T, raw, detail string) {
				t.Helper()
				_, err := h.Service.Authenticate(ctx, raw, clientIP)
				var e *apitoken.Error
				if !errors.As(err, &e) || e.Code != apitoken.Unauthorized || e.Detail != detail {
					t.Fatalf("authenticating gave %v, want unauthorized: %s", err, detail)
				}
			}

			h.Clock.Advance(10*day - time.Hour)
			purge(t)
			left(t, expiringID, longRevokedID, shortRevokedID, liveID)

			h.Clock.Advance(2 * time.Hour) // t0+10d+1h: the revocations are ten days old
			purge(t)
			left(t, expiringID, longRevokedID, liveID)
			refused(t, longRevoked, "The token has been revoked.")
			if tokens, _, _ := h.round(caller, "", 100); !tokens[longRevokedID] {
				t.Fatalf("the feed lacks the revoked token whose exp claim has not passed: %v", tokens)
			}

			h.Clock.Advance(day) // t0+11d+1h: the expiration is ten days old
			purge(t)
			left(t, longRevokedID, liveID)

			h.Clock.Advance(19 * day) // t0+30d+1h: the long-revoked token's exp claim has passed
			purge(t)
			left(t, liveID)
			refused(t, longRevoked, "The token has expired.")
			h.do(req{method: "GET", path: tokensPath(member) + "/" + longRevokedID, token: h.AdminToken}).expectStatus(t, 404, "not_found")
			if tokens, _, _ := h.round(caller, "", 100); len(tokens) != 0 {
				t.Fatalf("the feed still lists %v", tokens)
			}
			if n := h.Service.PurgedTokens(); n != 3 {
				t.Fatalf("the purges deleted %d tokens, want 3", n)
			}
			metrics := string(h.do(req{method: "GET", path: "/metrics"}).Body)
			if !strings.Contains(metrics, "\ntokend_tokens_purged_total 3\n") {
				t.Fatalf("/metrics lacks tokend_tokens_purged_total 3")
			}
		})
	}
}
