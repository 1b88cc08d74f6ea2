package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestCheckFindsWhatWasLost checks the checker: a ledger that matches the
// server passes, and each way a server can break its promise is reported.
func TestCheckFindsWhatWasLost(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		ctx := context.Background()
		// answered returns a load of two users whose ledger holds four
		// creations and a revocation, all answered.
		answered := func(t *testing.T) (*load, []*entry) {
			t.Helper()
			l, err := newLoad(ctx, srv.URL, srv.AdminToken, 2)
			if err != nil {
				t.Fatal(err)
			}
			var created []*entry
			for i := range 4 {
				e := &entry{user: l.users[i%2], description: "token " + uuid.NewString()}
				l.ledger.add(e)
				if !l.create(ctx, e) {
					t.Fatalf("create: %v", l.ledger.samples)
				}
				created = append(created, e)
			}
			if !l.revoke(ctx, created[0]) {
				t.Fatalf("revoke: %v", l.ledger.samples)
			}
			return l, created
		}
		checked := func(t *testing.T, l *load) report {
			t.Helper()
			var r report
			if err := check(ctx, l, &r); err != nil {
				t.Fatal(err)
			}
			return r
		}

		t.Run("a faithful server", func(t *testing.T) {
			l, _ := answered(t)
			if r := checked(t, l); r.lost+r.halfDone+r.wrong != 0 || r.authChecked != 4 || r.totals != 10 {
				t.Errorf("%+v, want nothing lost, 4 tokens checked at /auth, 10 totals", r)
			}
		})
		t.Run("an acknowledged revocation that does not hold", func(t *testing.T) {
			l, created := answered(t)
			created[1].revoked = acknowledged
			// /auth accepts the token, which is wrong for a revoked
			// one: reported too.
			if r := checked(t, l); r.lost != 1 || r.wrong != 1 {
				t.Errorf("lost %d, wrong %d, want 1 and 1: %v", r.lost, r.wrong, r.problems)
			}
		})
		t.Run("an acknowledged creation that is gone", func(t *testing.T) {
			l, _ := answered(t)
			l.ledger.add(&entry{user: l.users[0], description: "gone", id: uuid.NewString(), created: acknowledged})
			if r := checked(t, l); r.lost != 1 {
				t.Errorf("lost %d, want 1: %v", r.lost, r.problems)
			}
		})
		t.Run("a token nobody asked for", func(t *testing.T) {
			l, _ := answered(t)
			srv.Mint(l.users[1], "customers")
			if r := checked(t, l); r.halfDone != 1 {
				t.Errorf("half done %d, want 1: %v", r.halfDone, r.problems)
			}
		})
		t.Run("a count changed without its token", func(t *testing.T) {
			l, _ := answered(t)
			q := `INSERT INTO token_count_changes (user_id, class, day, n)
				SELECT user_id, class, day, 1 FROM token_count_changes WHERE user_id = $1 AND n > 0 LIMIT 1`
			if _, err := srv.Store.SQL().Exec(q, l.users[0]); err != nil {
				t.Fatal(err)
			}
			// The active list and the list of everything say one
			// more than they list.
			if r := checked(t, l); r.halfDone != 2 {
				t.Errorf("half done %d, want 2: %v", r.halfDone, r.problems)
			}
		})
	})
}

// TestAuthStatus checks the /auth probe against a real token and a
// made-up one.
func TestAuthStatus(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	token, _ := srv.Mint(srv.User(apitoken.RoleMember), "customers")
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		token string
		want  int
	}{{token, http.StatusOK}, {"v2.public.bad", http.StatusUnauthorized}} {
		if got, err := authStatus(context.Background(), hc, srv.URL, c.token); err != nil || got != c.want {
			t.Errorf("authStatus = %d, %v; want %d", got, err, c.want)
		}
	}
}
