package expiry_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/expiry"
	"github.com/tokend/tokend/internal/tokendtest"
)

// issue creates a token of the user expiring after life, and returns its id.
func issue(t *testing.T, srv *tokendtest.Server, userID string, life time.Duration) string {
	t.Helper()
	desc, scope := "expiring", "api-tokens"
	exp := time.Now().Add(life).UTC().Format(time.RFC3339)
	tok, _, err := srv.Service.IssueToken(context.Background(), userID,
		apitoken.TokenRequest{Description: &desc, Scope: &scope, Expiration: &exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// notices returns the apiToken.expiring events of the token, by window.
func notices(t *testing.T, srv *tokendtest.Server, tokenID string) map[string]int {
	t.Helper()
	q := "SELECT changes FROM audit_events WHERE action = 'apiToken.expiring' AND target_id = ?"
	if srv.Store.Dialect() == "postgres" {
		q = "SELECT changes FROM audit_events WHERE action = 'apiToken.expiring' AND target_id = $1"
	}
	rows, err := srv.Store.SQL().Query(q, tokenID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var changes string
		rows.Scan(&changes)
		for _, w := range []string{"7d", "1d"} {
			if contains(changes, `"new":"`+w+`"`) {
				out[w]++
			}
		}
	}
	return out
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestNoticesOncePerWindowAcrossReplicas runs the check of two replicas
// at once, again and again, at times when tokens come into the 7-day and
// 1-day windows, and counts the events: one per token and window it came
// into, none for a window its whole life fit in.
func TestNoticesOncePerWindowAcrossReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		a := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		b := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Replica: true})
		user := a.User(apitoken.RoleMember)
		long := issue(t, a, user, 30*24*time.Hour)    // into 7d at day 23, into 1d at day 29
		short := issue(t, a, user, 3*24*time.Hour)    // born inside 7d: only the 1d notice
		brief := issue(t, a, user, 12*time.Hour)      // born inside both: none
		revoked := issue(t, a, user, 10*24*time.Hour) // revoked before: none
		if _, err := a.Service.RevokeTokenDirectly(context.Background(), user, revoked); err != nil {
			t.Fatal(err)
		}

		check := func(at time.Duration) {
			t.Helper()
			var wg sync.WaitGroup
			for _, srv := range []*tokendtest.Server{a, b, a, b} {
				n := expiry.New(srv.Store, expiry.Config{Windows: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
					Now: func() time.Time { return time.Now().Add(at) }})
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := n.Check(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		check(0)
		check(2*24*time.Hour + time.Hour) // short: 1d left less an hour
		check(23*24*time.Hour + time.Hour)
		check(29*24*time.Hour + time.Hour)
		check(29*24*time.Hour + 2*time.Hour)

		for _, tc := range []struct {
			name   string
			id     string
			w7, w1 int
		}{
			{"a 30-day token", long, 1, 1},
			{"a 3-day token", short, 0, 1},
			{"a 12-hour token", brief, 0, 0},
			{"a revoked token", revoked, 0, 0},
		} {
			got := notices(t, a, tc.id)
			if got["7d"] != tc.w7 || got["1d"] != tc.w1 {
				t.Errorf("%s: notices %v, want 7d×%d 1d×%d", tc.name, got, tc.w7, tc.w1)
			}
		}
	})
}

// TestDisableUnused revokes a token unused for the period, with an
// apiToken.disabled event, and leaves a recently used one alone.
func TestDisableUnused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		user := srv.User(apitoken.RoleMember)
		unused := issue(t, srv, user, 300*24*time.Hour)
		raw, used := srv.Mint(user, "api-tokens")
		_ = raw
		later := 91 * 24 * time.Hour
		// The used token was used "now" as the notifier sees it.
		if err := srv.Store.Tokens.RecordUses(context.Background(), map[string]apitoken.Usage{
			used: {Latest: apitoken.Use{At: time.Now().Add(later - time.Hour), IP: netip.MustParseAddr("192.0.2.1")}}}); err != nil {
			t.Fatal(err)
		}
		n := expiry.New(srv.Store, expiry.Config{DisableUnusedAfter: 90 * 24 * time.Hour,
			Now: func() time.Time { return time.Now().Add(later) }})
		if _, err := n.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		tok, err := srv.Store.Tokens.Get(context.Background(), user, unused)
		if err != nil || tok.RevokedAt == nil {
			t.Fatalf("the unused token is not revoked: %+v, %v", tok, err)
		}
		if tok, _ := srv.Store.Tokens.Get(context.Background(), user, used); tok.RevokedAt != nil {
			t.Error("the used token was revoked")
		}
		// One event of the revocation, apiToken.disabled with its reason,
		// and no apiToken.revoked beside it; a second check adds none.
		for range 2 {
			page, err := srv.Store.ListEvents(context.Background(), audit.Filter{TargetID: unused, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var after []audit.Event
			for _, e := range page.Events {
				if e.Action != audit.TokenCreated {
					after = append(after, e)
				}
			}
			if len(after) != 1 || after[0].Action != audit.TokenDisabled {
				t.Fatalf("the unused token's events besides its creation: %+v, want one apiToken.disabled", after)
			}
			if c, ok := after[0].Changes["reason"]; !ok || string(c.New) != `"unused for 90 days"` {
				t.Errorf("the event's changes are %+v, want the reason", after[0].Changes)
			}
			n.Check(context.Background())
		}
	})
}
