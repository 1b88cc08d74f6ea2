package replica_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// clock is real time moved ahead by what a test adds, shared by the
// replicas of a test so that time passes alike on all of them.
type clock struct{ ahead atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *clock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }

// TestRotationReachesEveryReplica rotates tokens on one replica and checks
// that the other honours the old token's retirement within a second, as a
// shortened expiration: at once, at the end of a grace window, and at the
// new token's first use on the other replica.
func TestRotationReachesEveryReplica(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			clk := &clock{}
			servers := replicas(t, d, 2, clk.Now)
			a, b := servers[0], servers[1]
			member := a.User(apitoken.RoleMember)
			caller, _ := a.Mint(a.AdminID, apitoken.ScopeIntrospect)
			warm := func(token string) { t.Helper(); warmUp(t, servers, token, 10) }
			refused := func(token string) func(*tokendtest.Server) bool { return refusedBy(t, token) }
			grace := func(d time.Duration) string {
				return clk.Now().Add(d).UTC().Truncate(time.Second).Format(time.RFC3339)
			}

			t.Run("a token retired at once on one replica", func(t *testing.T) {
				old, id := a.Mint(member, "customers")
				warm(old)
				fresh := a.Rotate(member, id, map[string]any{})
				t.Logf("honoured in %s", within(t, time.Second, servers, refused(old)))
				warm(fresh)
			})
			t.Run("a grace window set on one replica", func(t *testing.T) {
				old, id := a.Mint(member, "customers")
				warm(old)
				end := grace(time.Hour)
				a.Rotate(member, id, map[string]any{"previousExpiration": end})
				warm(old)
				// Once the other replica has learned the grace window, it
				// ends there as on the replica that set it.
				at, _ := time.Parse(time.RFC3339, end)
				within(t, time.Second, []*tokendtest.Server{b}, func(s *tokendtest.Server) bool {
					return introspect(t, s, caller, old)["exp"] == float64(at.Unix())
				})
				clk.Advance(time.Hour + time.Second)
				within(t, 0, servers, refused(old))
			})
			t.Run("the new token's first use on the other replica", func(t *testing.T) {
				old, id := a.Mint(member, "customers")
				warm(old)
				fresh := a.Rotate(member, id, map[string]any{"previousExpiration": grace(time.Hour), "retirePreviousOnFirstUse": true})
				warm(old)
				if status := auth(t, b, fresh); status != http.StatusOK {
					t.Fatalf("the new token answers %d on the other replica", status)
				}
				// At once where it was used, and within a second elsewhere.
				if status := auth(t, b, old); status != http.StatusUnauthorized {
					t.Fatalf("after the new token's first use there, the old one answers %d", status)
				}
				t.Logf("honoured in %s", within(t, time.Second, servers, refused(old)))
				warm(fresh)
			})
		})
	}
}
