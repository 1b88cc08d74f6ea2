package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestSeedAddsTokensOfMixedStatuses seeds a real tokend's database and
// reads the tokens back through its API's store: all there, every status
// present in the proportions the command states.
func TestSeedAddsTokensOfMixedStatuses(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: dbtest.NewURL(t, d)})
			var out bytes.Buffer
			if err := run(context.Background(), []string{"--database-url", srv.DatabaseURL, "--user", srv.AdminID, "--tokens", "3000"}, &out, &out); err != nil {
				t.Fatalf("seed: %v\n%s", err, out.String())
			}
			if !strings.HasPrefix(out.String(), "added 3000 tokens") {
				t.Fatalf("seed printed %q", out.String())
			}
			now := time.Now()
			for status, want := range map[apitoken.Status]int64{
				apitoken.StatusActive: 2100, apitoken.StatusDisabled: 300, apitoken.StatusRevoked: 300, apitoken.StatusExpired: 300,
			} {
				page, err := srv.Store.Tokens.List(context.Background(), apitoken.TokenFilter{UserID: srv.AdminID, Statuses: []apitoken.Status{status}, Now: now, Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				n := page.Total
				if status == apitoken.StatusActive {
					n-- // the bootstrap token
				}
				if n != want {
					t.Errorf("%d %s tokens, want %d", n, status, want)
				}
			}
			if err := run(context.Background(), []string{"--database-url", srv.DatabaseURL, "--user", "nobody", "--tokens", "1"}, &out, &out); err == nil {
				t.Error("seeding for an unknown user succeeded")
			}
		})
	}
}
