package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/errcode"
)

// TestTheLastAdminIsNeverDisabled: the command line, like the API, keeps
// an enabled admin, so someone can always undo a mistake.
func TestTheLastAdminIsNeverDisabled(t *testing.T) {
	env := newEnv(t, store.SQLite)
	first := onlyLine(t, "users create", mustCLI(t, env, "users", "create", "--email", "first@example.com", "--role", "admin"))
	_, errOut, err := cli(t, env, "users", "disable", first)
	if got, want := exitCode(err), errcode.Conflict.Exit(); got != want {
		t.Fatalf("disabling the only admin exits %d (%v), want %d\n%s", got, err, want, errOut)
	}
	if out := mustCLI(t, env, "users", "list"); !strings.Contains(strings.Join(strings.Fields(out), " "), first+" first@example.com admin false false") {
		t.Fatalf("the refused disable changed the admin:\n%s", out)
	}
	second := onlyLine(t, "users create", mustCLI(t, env, "users", "create", "--email", "second@example.com", "--role", "admin"))
	mustCLI(t, env, "users", "disable", first)
	if _, _, err := cli(t, env, "users", "disable", second); exitCode(err) != errcode.Conflict.Exit() {
		t.Fatalf("disabling the last enabled admin: %v, want a conflict", err)
	}
	mustCLI(t, env, "users", "enable", first)
	mustCLI(t, env, "users", "disable", second)
}

// TestServeRefusesAWeakSecretBeforeTouchingTheDatabase: a secret that is
// not random stops serve before any database or file is created.
func TestServeRefusesAWeakSecretBeforeTouchingTheDatabase(t *testing.T) {
	env := newEnv(t, store.SQLite).with("TOKEND_SECRET", strings.Repeat("a", 64), "TOKEND_LISTEN", "127.0.0.1:0")
	_, errOut, err := cli(t, env, "serve")
	if err == nil || !strings.Contains(errOut+err.Error(), "TOKEND_SECRET") {
		t.Fatalf("serve with 64 × \"a\" as its secret: %v\n%s", err, errOut)
	}
	if entries, _ := os.ReadDir(env["TOKEND_DATA_DIR"]); len(entries) != 0 {
		t.Fatalf("serve created %v before refusing the secret", entries)
	}
}

// TestAnInvalidPublicURLIsRefused: links are built on TOKEND_PUBLIC_URL,
// so a value links cannot start with stops every command at once.
func TestAnInvalidPublicURLIsRefused(t *testing.T) {
	for _, bad := range []string{"tokens.example.com", "ftp://tokens.example.com", "https://", "https://u:p@tokens.example.com",
		"https://tokens.example.com/?x=1", "https://tokens.example.com/#top", "http://exa mple.com"} {
		env := newEnv(t, store.SQLite).with("TOKEND_PUBLIC_URL", bad, "TOKEND_LISTEN", "127.0.0.1:0")
		_, errOut, err := cli(t, env, "serve")
		if err == nil || !strings.Contains(errOut+err.Error(), "TOKEND_PUBLIC_URL") {
			t.Errorf("serve with TOKEND_PUBLIC_URL=%q: %v\n%s", bad, err, errOut)
		}
		if _, err := os.Stat(filepath.Join(env["TOKEND_DATA_DIR"], "tokend.db")); err == nil {
			t.Errorf("serve with TOKEND_PUBLIC_URL=%q created the database", bad)
		}
	}
}

// TestHelpAndVersion: --version prints the version, and a command group
// alone or with -h prints that group's commands only.
func TestHelpAndVersion(t *testing.T) {
	env := newEnv(t, store.SQLite)
	if out := mustCLI(t, env, "--version"); out != "tokend "+version+"\n" {
		t.Errorf("--version printed %q", out)
	}
	out := mustCLI(t, env, "users", "-h")
	if !strings.Contains(out, "users create") || !strings.Contains(out, "users disable") || strings.Contains(out, "tokens create") || strings.Contains(out, "keys rotate") {
		t.Errorf("users -h printed:\n%s", out)
	}
	// A command's -h lists its own flags; serve's the configuration.
	_, errOut, err := cli(t, env, "tokens", "create", "-h")
	if err != nil || !strings.Contains(errOut, "-user") || !strings.Contains(errOut, "-expires") || strings.Contains(errOut, "-database-url") {
		t.Errorf("tokens create -h: %v\n%s", err, errOut)
	}
	if _, errOut, _ := cli(t, env, "serve", "-h"); !strings.Contains(errOut, "-database-url") || !strings.Contains(errOut, "-max-token-lifetime") {
		t.Errorf("serve -h:\n%s", errOut)
	}
	if _, errOut, _ := cli(t, env, "tokens", "list", "--server", "http://127.0.0.1:1", "-h"); !strings.Contains(errOut, "-output") || strings.Contains(errOut, "-database-url") {
		t.Errorf("tokens list --server … -h:\n%s", errOut)
	}
	_, errOut, err = cli(t, env, "keys")
	if exitCode(err) != 2 || !strings.Contains(errOut, "keys rotate") || strings.Contains(errOut, "users create") {
		t.Errorf("keys alone: %v\n%s", err, errOut)
	}
}

// TestCommandsLogPlainLines: a command's warnings are plain lines, not
// JSON.
func TestCommandsLogPlainLines(t *testing.T) {
	env := newEnv(t, store.SQLite).with("TOKEND_SECRET", "")
	_, errOut, err := cli(t, env, "users", "create", "--email", "a@example.com", "--role", "member")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "tokend: warning: TOKEND_SECRET is not set") || strings.Contains(errOut, "{") {
		t.Fatalf("stderr:\n%s", errOut)
	}
}

// TestADataDirWhereNothingCanBeCreatedSaysWhy: a directory that exists but
// takes no new file (procfs here, since the tests may run as root, for
// whom permissions do not stop anything) fails the start with the file and
// the system's reason, not SQLite's "out of memory (14)".
func TestADataDirWhereNothingCanBeCreatedSaysWhy(t *testing.T) {
	env := newEnv(t, store.SQLite).with("TOKEND_DATA_DIR", "/proc/1", "TOKEND_LISTEN", "127.0.0.1:0")
	_, errOut, err := cli(t, env, "serve")
	msg := errOut
	if err != nil {
		msg += err.Error()
	}
	if err == nil || !strings.Contains(msg, "/proc/1/tokend.db") || strings.Contains(msg, "out of memory") {
		t.Fatalf("serve with an unwritable data dir: %v\n%s", err, errOut)
	}
}
