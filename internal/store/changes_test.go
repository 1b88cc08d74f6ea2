package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"gorm.io/gorm"
)

// changeToken applies fn to the token through the store, as the service
// does, and returns the token as stored.
func changeToken(t *testing.T, st *store.Store, tok apitoken.Token, fn func(*apitoken.Token)) apitoken.Token {
	t.Helper()
	got, err := st.Tokens.Update(context.Background(), tok.UserID, tok.ID, func(t *apitoken.Token) error {
		fn(t)
		t.UpdatedAt = t.UpdatedAt.Add(time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustSeq(t *testing.T, st *store.Store) int64 {
	t.Helper()
	seq, err := st.ChangeSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestChangesFollowOneSequence(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		start := mustSeq(t, f.st)
		a := MustCreateToken(t, f.st, f.token(base))
		b := MustCreateToken(t, f.st, f.token(base))
		if seq := mustSeq(t, f.st); seq != start {
			t.Fatalf("creating tokens took change numbers: %d, then %d", start, seq)
		}

		changeToken(t, f.st, a, func(t *apitoken.Token) { t.Enabled = false })
		afterA := mustSeq(t, f.st)
		changeToken(t, f.st, b, func(t *apitoken.Token) { now := base; t.RevokedAt = &now })
		// Saving a token unchanged takes no number.
		changeToken(t, f.st, b, func(*apitoken.Token) {})
		if _, err := f.st.Users.Update(ctx, f.user.ID, func(u *apitoken.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		end := mustSeq(t, f.st)
		if afterA != start+1 || end != start+3 {
			t.Fatalf("change numbers %d, %d, %d: want one for each change", start, afterA, end)
		}

		ch, err := f.st.ChangesSince(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Seq != end || !slices.Equal(ch.Tokens, []string{a.ID, b.ID}) || !slices.Equal(ch.Users, []string{f.user.ID}) || ch.Keys || ch.Truncated {
			t.Fatalf("ChangesSince(start) = %+v", ch)
		}
		if ch, err = f.st.ChangesSince(ctx, afterA, 1); err != nil || !slices.Equal(ch.Tokens, []string{b.ID}) {
			t.Fatalf("ChangesSince(after a) = %+v, %v", ch, err)
		}
		if ch, err = f.st.ChangesSince(ctx, start, 1); err != nil || !ch.Truncated || len(ch.Tokens) != 1 {
			t.Fatalf("ChangesSince with a limit of 1 = %+v, %v; want it truncated", ch, err)
		}
		if ch, err = f.st.ChangesSince(ctx, end, 100); err != nil || ch.Seq != end || len(ch.Tokens)+len(ch.Users) != 0 {
			t.Fatalf("ChangesSince(end) = %+v, %v; want nothing", ch, err)
		}

		if err := f.st.Keys.RotateKey(ctx, newKey(t, base), base, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ch, err = f.st.ChangesSince(ctx, end, 100); err != nil || !ch.Keys || ch.Seq != end+1 {
			t.Fatalf("after rotating the keys, ChangesSince = %+v, %v", ch, err)
		}
	})
}

func TestChangeNumbersFollowCommitOrder(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		var toks []apitoken.Token
		for range 20 {
			toks = append(toks, MustCreateToken(t, f.st, f.token(base)))
		}
		start := mustSeq(t, f.st)
		// Concurrent changes, and a reader following them: whenever the
		// reader sees a number, it sees every change numbered up to it
		// (and perhaps some committed since).
		var wg sync.WaitGroup
		errs := make(chan error, len(toks))
		for _, tok := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.st.Tokens.Update(context.Background(), tok.UserID, tok.ID, func(t *apitoken.Token) error {
					t.Enabled = false
					return nil
				})
				errs <- err
			}()
		}
		// The reader stops once every change is seen or, should a change
		// fail (reported below), once every writer is done.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		finished := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		var problem string
		for seen := start; seen < start+int64(len(toks)) && problem == "" && !finished(); {
			ch, err := f.st.ChangesSince(context.Background(), start, 1000)
			switch {
			case err != nil:
				problem = err.Error()
			case int64(len(ch.Tokens)) < ch.Seq-start:
				problem = fmt.Sprintf("at change %d the reader sees %d changed tokens, want at least %d", ch.Seq, len(ch.Tokens), ch.Seq-start)
			}
			seen = ch.Seq
		}
		<-done
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("change: %v", err)
			}
		}
		if problem != "" {
			t.Fatal(problem)
		}
		// However far the reader got while the writers ran, once all are
		// done it sees every change.
		ch, err := f.st.ChangesSince(context.Background(), start, 1000)
		if err != nil || ch.Seq != start+int64(len(toks)) || len(ch.Tokens) != len(toks) {
			t.Fatalf("after the writers: seq %d and %d changed tokens (%v), want %d and %d", ch.Seq, len(ch.Tokens), err, start+int64(len(toks)), len(toks))
		}
	})
}

func TestFeedPagesThroughChanges(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		f := newFixture(t, dialect)
		ctx := context.Background()
		now := base.Add(10 * time.Hour)
		create := func(exp time.Duration, change func(*apitoken.Token)) apitoken.Token {
			tok := f.token(base)
			tok.Expiration = now.Add(exp)
			tok = MustCreateToken(t, f.st, tok)
			if change != nil {
				tok = changeToken(t, f.st, tok, change)
			}
			return tok
		}
		create(time.Hour, nil) // never changed: verifiers read its state from the token
		disabled := create(time.Hour, func(t *apitoken.Token) { t.Enabled = false })
		revoked := create(time.Hour, func(t *apitoken.Token) { at := base; t.RevokedAt = &at })
		shortened := create(time.Hour, func(t *apitoken.Token) { t.Expiration = now.Add(-time.Minute) })
		create(-time.Minute, func(t *apitoken.Token) { t.Enabled = false }) // expired by its claim anyway

		ids := func(states []apitoken.TokenState) []string {
			var s []string
			for _, st := range states {
				s = append(s, st.ID)
			}
			return s
		}
		t.Run("a snapshot holds every changed token whose claim has not expired, in change order", func(t *testing.T) {
			got, err := f.st.Tokens.ChangedTokens(ctx, apitoken.Position{}, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{disabled.ID, revoked.ID, shortened.ID}; !slices.Equal(ids(got), want) {
				t.Fatalf("ChangedTokens = %q, want %q", ids(got), want)
			}
			d, r, s := got[0], got[1], got[2]
			if d.Enabled || d.Revoked || !r.Revoked || !s.Enabled || !s.Expiration.Equal(ms(now.Add(-time.Minute))) ||
				!s.ClaimExpiration.Equal(ms(now.Add(time.Hour))) || d.UserID != f.user.ID || d.Change >= r.Change {
				t.Fatalf("states = %+v", got)
			}
		})
		t.Run("pages continue after the position", func(t *testing.T) {
			var all []string
			var after apitoken.Position
			for range 5 {
				page, err := f.st.Tokens.ChangedTokens(ctx, after, now, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page[0].ID)
				after = apitoken.Position{Change: page[0].Change, ID: page[0].ID}
			}
			if want := []string{disabled.ID, revoked.ID, shortened.ID}; !slices.Equal(all, want) {
				t.Fatalf("paged feed = %q, want %q", all, want)
			}
		})
		t.Run("users changed past a position, re-enabled ones included", func(t *testing.T) {
			set := func(disabled bool) {
				if _, err := f.st.Users.Update(ctx, f.user.ID, func(u *apitoken.User) error { u.Disabled = disabled; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			set(true)
			mid := mustSeq(t, f.st)
			set(false)
			all, err := f.st.Users.ChangedUsers(ctx, apitoken.Position{}, 100)
			if err != nil || len(all) != 1 || all[0].ID != f.user.ID || all[0].Disabled {
				t.Fatalf("ChangedUsers = %+v, %v; want the re-enabled user", all, err)
			}
			if since, err := f.st.Users.ChangedUsers(ctx, apitoken.Position{Change: mid + 1}, 100); err != nil || len(since) != 0 {
				t.Fatalf("ChangedUsers past the last change = %+v, %v", since, err)
			}
		})
	})
}

// TestChangesReadTheIndexes checks the plans of ChangesSince's statements
// on PostgreSQL as a prepared statement's generic plan makes them, for any
// change number: they read the indexes of changes, never the whole table,
// which a replica would otherwise scan at every change it follows.
func TestChangesReadTheIndexes(t *testing.T) {
	if !slices.Contains(dbtest.Dialects(), store.Postgres) {
		t.Skip("the plan of a prepared statement is PostgreSQL's")
	}
	db := rawDB(t, dbtest.NewURL(t, store.Postgres))
	for _, c := range []struct {
		sql, index string
		args       string
	}{
		{store.ChangedTokensSQL, "api_tokens_changes", "(5, 100)"},
		{store.ChangedUsersSQL, "users_changes", "(5)"},
	} {
		var plan []string
		err := db.Transaction(func(tx *gorm.DB) error {
			q := strings.Replace(strings.Replace(c.sql, "?", "$1", 1), "?", "$2", 1)
			types := "(bigint)"
			if strings.Contains(q, "$2") {
				types = "(bigint, int)"
			}
			for _, s := range []string{"SET LOCAL plan_cache_mode = force_generic_plan", "PREPARE changed" + types + " AS " + q} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			defer tx.Exec("DEALLOCATE changed")
			var err error
			plan, err = planLines(tx, "EXPLAIN EXECUTE changed"+c.args)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(plan, "\n"); !strings.Contains(text, c.index) || strings.Contains(text, "Seq Scan") {
			t.Errorf("the generic plan of %q does not read %s:\n%s", c.sql, c.index, text)
		}
	}
}

// planLines runs an EXPLAIN on PostgreSQL and returns the plan's lines.
func planLines(tx *gorm.DB, explain string, args ...any) ([]string, error) {
	rows, err := tx.Raw(explain, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	return plan, rows.Err()
}
