package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// allEvents returns every event of the audit log, oldest first.
func allEvents(tb testing.TB, st *store.Store, f audit.Filter) []audit.Event {
	tb.Helper()
	f.Limit = 1000
	page, err := st.ListEvents(context.Background(), f)
	if err != nil {
		tb.Fatal(err)
	}
	return page.Events
}

// summary is an event's action, target and changed attributes, for
// comparing.
func summary(e audit.Event) string {
	attrs := make([]string, 0, len(e.Changes))
	for k := range e.Changes {
		attrs = append(attrs, k)
	}
	slices.Sort(attrs)
	return fmt.Sprintf("%s %s %s [%s]", e.Action, e.TargetType, e.TargetID, strings.Join(attrs, " "))
}

func TestEveryChangeOfTheStoreRecordsItsEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		actor := audit.Actor{UserID: "admin-id", TokenID: "admin-token", SourceIP: "198.51.100.9", UserAgent: "test/1"}
		ctx := audit.WithActor(context.Background(), actor)
		now := time.Now().UTC()
		u := newUser(now)
		if err := st.Users.Create(ctx, &u); err != nil {
			t.Fatal(err)
		}
		k := MustCreateKey(t, st, now)
		tok := newToken(u.ID, k.ID, now)
		tok.ClaimExpiration = tok.Expiration
		if err := st.Tokens.Create(ctx, &tok); err != nil {
			t.Fatal(err)
		}
		// A creation through CreateBelow, batched on PostgreSQL.
		batched := newToken(u.ID, k.ID, now)
		if ok, err := st.Tokens.CreateBelow(ctx, &batched, now, 100); err != nil || !ok {
			t.Fatalf("CreateBelow = %v, %v", ok, err)
		}
		later := now.Add(time.Second)
		if _, err := st.Tokens.Update(ctx, u.ID, tok.ID, func(t *apitoken.Token) error {
			t.Description, t.UpdatedAt = "renamed", later
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Nothing changed: no event.
		if _, err := st.Tokens.Update(ctx, u.ID, tok.ID, func(t *apitoken.Token) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Tokens.UpdateEach(ctx, []string{batched.ID}, func(t *apitoken.Token) error {
			t.LeakedAt, t.RevokedAt, t.LeakURL, t.UpdatedAt = &later, &later, "https://example.com/leak", later
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Users.Update(ctx, u.ID, func(u *apitoken.User) error {
			u.Disabled, u.UpdatedAt = true, later
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var revoked []apitoken.Token
		for range 3 {
			r := newToken(u.ID, k.ID, now)
			if err := st.Tokens.Create(ctx, &r); err != nil {
				t.Fatal(err)
			}
			revoked = append(revoked, r)
		}
		ids, err := st.Tokens.RevokeAll(ctx, u.ID, later)
		if err != nil || len(ids) != 4 {
			t.Fatalf("RevokeAll = %v, %v: want the three new tokens and the renamed one", ids, err)
		}
		got := allEvents(t, st, audit.Filter{})
		var sums []string
		for _, e := range got {
			sums = append(sums, summary(e))
		}
		want := []string{
			"user.created user " + u.ID + " [email role]",
			"key.rotated signingKey " + k.ID + " [status]",
			"apiToken.created apiToken " + tok.ID + " [description enabled expiration scope]",
			"apiToken.created apiToken " + batched.ID + " [description enabled expiration scope]",
			"apiToken.updated apiToken " + tok.ID + " [description]",
			"apiToken.leaked apiToken " + batched.ID + " [leakUrl leakedAt revokedAt]",
			"user.updated user " + u.ID + " [disabled]",
		}
		for _, r := range revoked {
			want = append(want, "apiToken.created apiToken "+r.ID+" [description enabled expiration scope]")
		}
		// RevokeAll goes in creation order, then id.
		var revokedIDs []string
		for _, id := range ids {
			revokedIDs = append(revokedIDs, "apiToken.revoked apiToken "+id+" [revokedAt]")
		}
		want = append(want, revokedIDs...)
		if strings.Join(sums, "\n") != strings.Join(want, "\n") {
			t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(sums, "\n"), strings.Join(want, "\n"))
		}
		for _, e := range got {
			if e.TargetType == audit.TargetSigningKey {
				continue // created with the test's own context
			}
			if e.ActorUserID != actor.UserID || e.ActorTokenID != actor.TokenID || e.SourceIP != actor.SourceIP || e.UserAgent != actor.UserAgent {
				t.Fatalf("event %s has actor %s %s %s %s, want the context's", summary(e), e.ActorUserID, e.ActorTokenID, e.SourceIP, e.UserAgent)
			}
			if e.UserID != u.ID {
				t.Fatalf("event %s has user %q, want %s", summary(e), e.UserID, u.ID)
			}
		}
		upd := got[4].Changes["description"]
		if string(upd.Old) != `"token"` || string(upd.New) != `"renamed"` {
			t.Fatalf("description changed from %s to %s", upd.Old, upd.New)
		}
		// The token's hash, a secret's digest, is never recorded.
		raw, _ := json.Marshal(got)
		if strings.Contains(string(raw), "tokenHash") || strings.Contains(string(raw), "keyId") {
			t.Fatalf("events hold a token's hash or key: %s", raw)
		}
		if _, err := st.VerifyChain(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAFailedChangeRecordsNoEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		u := MustCreateUser(t, st, newUser(base))
		dup := newUser(base)
		dup.Email = u.Email
		if err := st.Users.Create(ctx, &dup); apitoken.ErrorCode(err) != apitoken.Conflict {
			t.Fatalf("Create of a duplicate = %v", err)
		}
		refused := fmt.Errorf("refused")
		_, err := st.Users.Update(ctx, u.ID, func(u *apitoken.User) error {
			u.Disabled = true
			return refused
		})
		if err == nil {
			t.Fatal("Update succeeded")
		}
		evs := allEvents(t, st, audit.Filter{})
		if len(evs) != 1 || evs[0].Action != audit.UserCreated {
			t.Fatalf("events %v, want only the first user's creation", evs)
		}
	})
}

func TestABatchOfCreationsAppendsItsEventsTogether(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		toks := make([]apitoken.Token, 10)
		ctxs := make([]context.Context, len(toks))
		for i := range toks {
			toks[i] = newToken(f.user.ID, f.key.ID, base)
			ctxs[i] = audit.WithActor(context.Background(), audit.Actor{UserID: fmt.Sprintf("actor-%d", i)})
		}
		created, errs, _ := queueCreations(t, f.st, ctxs, toks, base, 1000)
		for i := range toks {
			if errs[i] != nil || !created[i] {
				t.Fatalf("creation %d: %v, %v", i, created[i], errs[i])
			}
		}
		evs := allEvents(t, f.st, audit.Filter{Actions: []audit.Action{audit.TokenCreated}})
		if len(evs) != len(toks) {
			t.Fatalf("%d events, want %d", len(evs), len(toks))
		}
		for _, e := range evs {
			i := slices.IndexFunc(toks, func(t apitoken.Token) bool { return t.ID == e.TargetID })
			if i < 0 || e.ActorUserID != fmt.Sprintf("actor-%d", i) {
				t.Fatalf("event %s by %q: each creation's event carries its own actor", summary(e), e.ActorUserID)
			}
		}
		if _, err := f.st.VerifyChain(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
