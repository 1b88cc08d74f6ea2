package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// execSQL runs statements on the environment's database directly, as
// someone with access to it could.
func execSQL(t *testing.T, env testEnv, stmts ...string) {
	t.Helper()
	url := env["TOKEND_DATABASE_URL"]
	if url == "" {
		url = "sqlite:" + filepath.Join(env["TOKEND_DATA_DIR"], "tokend.db")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, q := range stmts {
		if _, err := st.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestAuditVerifyNamesTheEventTamperedWith(t *testing.T) {
	tampers := []struct {
		name, sql, want string
	}{
		{"a row edited", "UPDATE audit_events SET user_agent = 'someone else' WHERE seq = 2", "event 2 "},
		{"a row deleted", "DELETE FROM audit_events WHERE seq = 2", "event 2 is missing"},
	}
	for _, dialect := range dbtest.Dialects() {
		for _, tt := range tampers {
			t.Run(dialect+"/"+tt.name, func(t *testing.T) {
				env := newEnv(t, dialect).with("USER", "operator")
				mustCLI(t, env, "migrate")
				if out := mustCLI(t, env, "audit", "verify"); !strings.HasPrefix(out, "ok: the audit log holds no events") {
					t.Fatalf("audit verify of an empty log printed %q", out)
				}
				mustCLI(t, env, "users", "create", "--email", "a@example.com", "--role", "admin")
				mustCLI(t, env, "users", "create", "--email", "b@example.com", "--role", "member")
				mustCLI(t, env, "users", "create", "--email", "c@example.com", "--role", "member")
				out := mustCLI(t, env, "audit", "verify")
				// Opening tokend for a change created its first signing key.
				if !strings.HasPrefix(out, "ok: 4 events, 1 to 4") {
					t.Fatalf("audit verify printed %q, want 4 events", out)
				}
				execSQL(t, env, tt.sql)
				_, _, err := cli(t, env, "audit", "verify")
				if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("audit verify after %s = %v (exit %d), want a failure naming %q", tt.name, err, exitCode(err), tt.want)
				}
			})
		}
	}
}

func TestLocalCommandsRecordTheirEventsAsTheCommandLines(t *testing.T) {
	env := newEnv(t, store.SQLite).with("USER", "operator")
	mustCLI(t, env, "users", "create", "--email", "a@example.com", "--role", "admin")
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(env["TOKEND_DATA_DIR"], "tokend.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var agent string
	err = st.SQL().QueryRow("SELECT user_agent FROM audit_events WHERE action = 'user.created'").Scan(&agent)
	if err != nil || agent != "tokend-cli/"+version+" (user operator)" {
		t.Fatalf("user.created by %q (%v), want the command line with the operating system's user", agent, err)
	}
}
