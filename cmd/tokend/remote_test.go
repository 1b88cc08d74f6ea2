package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/errcode"
)

// TestRemoteCommands runs the remote commands against a real tokend, with
// no database of their own: an empty data dir stays empty.
func TestRemoteCommands(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	dir := t.TempDir()
	env := testEnv{"TOKEND_DATA_DIR": dir, "TOKEND_TOKEN": srv.AdminToken}
	remote := func(args ...string) []string { return append(args, "--server", srv.URL) }

	out := mustCLI(t, env, remote("users", "list", "--output", "json")...)
	var users []struct{ ID, Email, Role string }
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 1 || users[0].Role != "admin" {
		t.Fatalf("users list --output json: %v\n%s", err, out)
	}
	// TOKEND_SERVER does what --server does.
	env = env.with("TOKEND_SERVER", srv.URL)
	token := onlyLine(t, "tokens create", mustCLI(t, env, "tokens", "create", "--user", srv.AdminID,
		"--scope", "customers", "--description", "from the CLI", "--expires", "24h"))
	if !strings.HasPrefix(token, "v2.public.") {
		t.Fatalf("tokens create printed %q", token)
	}
	out = mustCLI(t, env, "tokens", "list", "--user", srv.AdminID)
	if !strings.Contains(out, "from the CLI") || !strings.HasPrefix(out, "ID ") || strings.Contains(out, token) {
		t.Fatalf("tokens list:\n%s", out)
	}
	var listed []struct {
		ID, Description, Status string
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "tokens", "list", "--user", srv.AdminID, "--output", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, tk := range listed {
		if tk.Description == "from the CLI" {
			id = tk.ID
		}
	}
	if id == "" {
		t.Fatalf("the new token is not listed: %+v", listed)
	}
	if out := mustCLI(t, env, "tokens", "revoke", "--user", srv.AdminID, id); !strings.Contains(out, id) || !strings.Contains(out, "revoked") {
		t.Fatalf("tokens revoke:\n%s", out)
	}
	if out := mustCLI(t, env, "tokens", "get", "--user", srv.AdminID, id, "--output", "json"); !strings.Contains(out, `"status": "revoked"`) {
		t.Fatalf("tokens get:\n%s", out)
	}
	member := onlyLine(t, "users create", mustCLI(t, env, "users", "create", "--email", "svc@example.com", "--service", "--scopes", "introspect"))
	if _, err := srv.Store.Users.Get(context.Background(), member); err != nil {
		t.Fatalf("the remotely created user is not in the database: %v", err)
	}
	if out := mustCLI(t, env, "users", "update", member, "--disabled", "true"); !strings.Contains(out, "true") {
		t.Fatalf("users update --disabled true:\n%s", out)
	}
	mustCLI(t, env, "users", "enable", member)

	// tokend's refusals are one plain line and their code's exit status.
	_, errOut, err := cli(t, env, "users", "disable", srv.AdminID)
	if exitCode(err) != errcode.Conflict.Exit() || strings.Contains(errOut, "{") {
		t.Fatalf("disabling oneself remotely: exit %d (%v)\n%s", exitCode(err), err, errOut)
	}
	_, _, err = cli(t, env.with("TOKEND_TOKEN", token), "users", "list")
	if exitCode(err) != errcode.Unauthorized.Exit() || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("a revoked token: exit %d (%v)", exitCode(err), err)
	}
	if _, _, err := cli(t, env.with("TOKEND_TOKEN", ""), "users", "list"); exitCode(err) != 2 {
		t.Fatalf("no TOKEND_TOKEN: %v, want a usage error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("remote commands created %v in the data dir", entries)
	}
}
