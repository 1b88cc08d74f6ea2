package app_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

func TestCommittedEventsAreCopiedAsJSONLines(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Env: map[string]string{"TOKEND_AUDIT_LOG": path}})
		ctx := context.Background()
		email := "copied@example.com"
		u, err := srv.Service.AddUser(ctx, apitoken.UserRequest{Email: email, Role: "member"})
		if err != nil {
			t.Fatal(err)
		}
		// A change that fails writes no line.
		if _, err := srv.Service.AddUser(ctx, apitoken.UserRequest{Email: email, Role: "member"}); err == nil {
			t.Fatal("a duplicate user was created")
		}
		page, err := srv.Store.ListEvents(ctx, audit.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if st, _ := f.Stat(); st.Mode().Perm() != 0o600 {
			t.Fatalf("the copy's mode is %v, want 0600", st.Mode().Perm())
		}
		var lines []audit.Record
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r audit.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			lines = append(lines, r)
		}
		// The bootstrap's events, then the user's: one line each, as
		// stored.
		if len(lines) != len(page.Events) {
			t.Fatalf("%d lines for %d events", len(lines), len(page.Events))
		}
		for i, e := range page.Events {
			r := lines[i]
			if r.ID != e.ID || r.Seq != e.Seq || r.Hash != hex.EncodeToString(e.Hash) || r.Action != e.Action {
				t.Fatalf("line %d = %+v, want event %+v", i, r, e)
			}
		}
		last := lines[len(lines)-1]
		if last.Action != audit.UserCreated || last.TargetID != u.ID || !strings.Contains(string(last.Changes["email"].New), email) {
			t.Fatalf("last line %+v, want the user's creation", last)
		}
	})
}

func TestServePrunesEventsPastTheirRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		old := audit.Event{OccurredAt: time.Now().Add(-48 * time.Hour), Action: audit.UserUpdated,
			TargetType: audit.TargetUser, TargetID: "gone"}
		if err := st.AppendEvents(ctx, old, old, old); err != nil {
			t.Fatal(err)
		}
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url, Env: map[string]string{"TOKEND_AUDIT_RETENTION": "1d"}})
		deadline := time.Now().Add(20 * time.Second)
		for {
			page, err := srv.Store.ListEvents(ctx, audit.Filter{TargetID: "gone", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d events past their retention are still there", page.Total)
			}
			time.Sleep(20 * time.Millisecond) // polling, with a deadline
		}
		rep, err := srv.Store.VerifyChain(ctx)
		if err != nil || rep.StartSeq != 4 || rep.Events == 0 {
			t.Fatalf("VerifyChain after the pruning = %+v, %v; want the chain from event 4", rep, err)
		}
		if r, err := http.Get(srv.URL + "/healthz"); err != nil || r.StatusCode != 200 {
			t.Fatalf("healthz: %v", err)
		}
	})
}
