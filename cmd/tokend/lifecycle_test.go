package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/errcode"
)

// honoured waits until the server answers the token with status for
// customers, and fails the test after a second, SPEC's bound for a change
// the command line made.
func honoured(t *testing.T, s *server, token string, status int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got, _ := forwardAuth(t, s, token, "customers")
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server answers %d after a second, want %d", got, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTokensRotateAndRevokeOnTheDatabase runs tokens rotate and tokens
// revoke on the database, beside a running server that honours them.
func TestTokensRotateAndRevokeOnTheDatabase(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			env := newEnv(t, dialect)
			s := startServe(t, env)
			bootstrapToken(t, s)
			memberID := onlyLine(t, "users create", mustCLI(t, env, "users", "create", "--email", "rot@example.com", "--role", "member"))
			create := func() string {
				return onlyLine(t, "tokens create", mustCLI(t, env, "tokens", "create", "--user", memberID, "--scope", "customers",
					"--expires", "48h", "--description", "rotated"))
			}
			old := create()
			oldID := jti(t, old)

			// Rotated with a grace window that ends at the new token's
			// first use: both work until then.
			fresh := onlyLine(t, "tokens rotate", mustCLI(t, env, "tokens", "rotate", "--user", memberID,
				"--previous-expires", "1h", "--retire-on-first-use", oldID))
			if !tokenPattern.MatchString(fresh) || fresh == old {
				t.Fatalf("tokens rotate printed %q, want a new token", fresh)
			}
			honoured(t, s, old, http.StatusOK)
			honoured(t, s, fresh, http.StatusOK)
			if status, _ := forwardAuth(t, s, old, "customers"); status != http.StatusUnauthorized {
				t.Fatalf("after the new token's first use the old one gets %d, want 401", status)
			}
			// A rotated token cannot rotate again.
			_, _, err := cli(t, env, "tokens", "rotate", "--user", memberID, oldID)
			if exitCode(err) != errcode.Conflict.Exit() || !strings.Contains(err.Error(), "rotated already") {
				t.Fatalf("rotating a rotated token: exit %d (%v)", exitCode(err), err)
			}

			// Revoked one by one, or all at once.
			other := create()
			if out := onlyLine(t, "tokens revoke", mustCLI(t, env, "tokens", "revoke", "--user", memberID, jti(t, other))); out != jti(t, other) {
				t.Fatalf("tokens revoke printed %q, want the token's id", out)
			}
			honoured(t, s, other, http.StatusUnauthorized)
			create()
			if n := onlyLine(t, "tokens revoke --all", mustCLI(t, env, "tokens", "revoke", "--user", memberID, "--all")); n != "2" {
				t.Fatalf("tokens revoke --all printed %q, want 2 (the new token and the last one)", n)
			}
			honoured(t, s, fresh, http.StatusUnauthorized)
			if n := onlyLine(t, "tokens revoke --all", mustCLI(t, env, "tokens", "revoke", "--user", memberID, "--all")); n != "0" {
				t.Fatalf("tokens revoke --all again printed %q, want 0", n)
			}
			for _, args := range [][]string{
				{"tokens", "revoke", "--user", memberID},
				{"tokens", "revoke", "--user", memberID, "--all", oldID},
				{"tokens", "revoke", oldID},
				{"tokens", "rotate", "--user", memberID, "--previous-expires", "soon", oldID},
			} {
				if _, _, err := cli(t, env, args...); exitCode(err) != 2 {
					t.Errorf("tokend %s: exit %d (%v), want a usage error", strings.Join(args, " "), exitCode(err), err)
				}
			}
		})
	}
}

// TestRemoteLifecycleCommands runs tokens rotate and tokens revoke --all
// against a real tokend's API.
func TestRemoteLifecycleCommands(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	env := testEnv{"TOKEND_DATA_DIR": t.TempDir(), "TOKEND_TOKEN": srv.AdminToken, "TOKEND_SERVER": srv.URL}
	member := srv.User("member")
	old, oldID := srv.Mint(member, "customers")
	fresh := onlyLine(t, "tokens rotate", mustCLI(t, env, "tokens", "rotate", "--user", member, "--previous-expires", "1h", oldID))
	if !tokenPattern.MatchString(fresh) || fresh == old {
		t.Fatalf("tokens rotate printed %q", fresh)
	}
	var got struct {
		ID, RotatedFrom, Token string
	}
	out := mustCLI(t, env, "tokens", "rotate", "--user", member, "--output", "json", jti(t, fresh))
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.RotatedFrom != jti(t, fresh) || got.Token == "" {
		t.Fatalf("tokens rotate --output json: %v\n%s", err, out)
	}
	if _, _, err := cli(t, env, "tokens", "rotate", "--user", member, oldID); exitCode(err) != errcode.Conflict.Exit() {
		t.Fatalf("rotating a rotated token: exit %d (%v)", exitCode(err), err)
	}
	// The old token in its grace window and the last new one.
	if n := onlyLine(t, "tokens revoke --all", mustCLI(t, env, "tokens", "revoke", "--user", member, "--all")); n != "2" {
		t.Fatalf("tokens revoke --all printed %q, want 2", n)
	}
	if out := mustCLI(t, env, "tokens", "revoke", "--user", member, "--all", "--output", "json"); strings.Join(strings.Fields(out), "") != `{"revoked":0}` {
		t.Fatalf("tokens revoke --all --output json printed %q", out)
	}
}

// jti returns the token's id, from its claims.
func jti(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		t.Fatalf("%q is not a v2.public token", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 64 {
		t.Fatalf("%q is not a v2.public token", token)
	}
	var claims struct{ Jti string }
	if err := json.Unmarshal(raw[:len(raw)-64], &claims); err != nil || claims.Jti == "" {
		t.Fatalf("token claims: %v", err)
	}
	return claims.Jti
}

// TestServeRefusesSecretScanningKeysItCannotRead checks that a key file
// that is missing or not GitHub's format stops serve before it listens,
// saying which setting is at fault: a server that would accept reports
// unsigned while the operator meant them signed must not start.
func TestServeRefusesSecretScanningKeysItCannotRead(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(bad, []byte(`{"public_keys":[{"key_identifier":"k","key":"not a key"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bad, filepath.Join(t.TempDir(), "missing.json")} {
		env := newEnv(t, store.SQLite).with("TOKEND_SECRET_SCANNING_KEYS", path, "TOKEND_LISTEN", "127.0.0.1:0")
		_, errOut, err := cli(t, env, "serve")
		if err == nil || !strings.Contains(errOut+err.Error(), "TOKEND_SECRET_SCANNING_KEYS") {
			t.Errorf("serve with TOKEND_SECRET_SCANNING_KEYS=%s: %v\n%s", path, err, errOut)
		}
	}
}
