package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/errcode"
)

func TestCLIBesideARunningServer(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			env := newEnv(t, dialect).with("TOKEND_LOG_LEVEL", "debug")
			s := startServe(t, env)
			admin := bootstrapToken(t, s)
			secrets := []string{admin}

			// users create prints the new id alone.
			email := "m-" + uuid.NewString()[:8] + "@example.com"
			memberID := onlyLine(t, "users create", mustCLI(t, env, "users", "create", "--email", email, "--role", "member"))
			if u, err := uuid.Parse(memberID); err != nil || u.String() != memberID {
				t.Fatalf("users create printed %q, want a UUID", memberID)
			}

			// tokens create prints the token alone, and the running server
			// accepts it at once.
			out := mustCLI(t, env, "tokens", "create", "--user", memberID, "--scope", "customers",
				"--expires", "720h", "--description", "CLI token")
			member := onlyLine(t, "tokens create", out)
			if !tokenPattern.MatchString(member) || tokenPattern.FindString(member) != member {
				t.Fatalf("tokens create printed %q, want a token", member)
			}
			secrets = append(secrets, member)
			if status, sub := forwardAuth(t, s, member, "customers"); status != http.StatusOK || sub != memberID {
				t.Fatalf("the server answers the CLI token with %d, subject %q; want 200, %s", status, sub, memberID)
			}
			if status, _ := forwardAuth(t, s, member, "accounts"); status != http.StatusForbidden {
				t.Errorf("a scope the CLI token lacks: %d, want 403", status)
			}

			// The member reads its own tokens with a token holding api-tokens.
			reader := onlyLine(t, "tokens create", mustCLI(t, env, "tokens", "create", "--user", memberID,
				"--scope", "api-tokens", "--expires", "1h", "--description", "reader"))
			secrets = append(secrets, reader)
			r := call(t, http.MethodGet, s.URL+"/users/"+memberID+"/api-tokens", reader, nil).expect(t, http.StatusOK)
			var list struct {
				Data []struct {
					Attributes struct {
						Description string `json:"description"`
						Scope       string `json:"scope"`
						Expiration  string `json:"expiration"`
					} `json:"attributes"`
				} `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &list); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range list.Data {
				if d.Attributes.Description == "CLI token" && d.Attributes.Scope == "customers" {
					found = true
					exp, err := time.Parse(time.RFC3339, d.Attributes.Expiration)
					if err != nil || exp.Sub(time.Now().Add(720*time.Hour)).Abs() > time.Minute {
						t.Errorf("CLI token expiration = %q, want about 720h from now", d.Attributes.Expiration)
					}
				}
			}
			if !found {
				t.Errorf("the member's tokens do not list the CLI token: %s", r.Body)
			}

			// Validation errors exit non-zero with a readable message and
			// print nothing on stdout.
			for _, tc := range []struct {
				name string
				args []string
				want []string
			}{
				{"a bad email and role", []string{"users", "create", "--email", "not-an-email", "--role", "boss"}, []string{"email", "role"}},
				{"an unknown scope", []string{"tokens", "create", "--user", memberID, "--scope", "no-such-scope", "--description", "x"}, []string{"no-such-scope"}},
				{"a lifetime beyond the maximum", []string{"tokens", "create", "--user", memberID, "--scope", "customers", "--expires", "1000d", "--description", "x"}, []string{"expiration"}},
				{"a missing description", []string{"tokens", "create", "--user", memberID, "--scope", "customers"}, []string{"description"}},
				{"no user", []string{"tokens", "create", "--scope", "customers", "--description", "x"}, []string{"--user"}},
				{"an unknown user", []string{"tokens", "create", "--user", uuid.NewString(), "--scope", "customers", "--description", "x"}, []string{"not found"}},
				{"a bad duration", []string{"tokens", "create", "--user", memberID, "--scope", "customers", "--expires", "soon", "--description", "x"}, []string{"--expires", "duration", "RFC 3339"}},
				{"an unknown flag", []string{"users", "create", "--mail", "a@example.com"}, []string{"-mail"}},
			} {
				t.Run(tc.name+" is refused", func(t *testing.T) {
					out, errOut, err := cli(t, env, tc.args...)
					if err == nil {
						t.Fatalf("tokend %s succeeded, printing %q", strings.Join(tc.args, " "), out)
					}
					if out != "" {
						t.Errorf("stdout = %q, want nothing", out)
					}
					msg := strings.ToLower(err.Error())
					for _, w := range tc.want {
						if !strings.Contains(msg, strings.ToLower(w)) {
							t.Errorf("error %q does not mention %q", err, w)
						}
					}
					if strings.Contains(msg, "sql") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
						t.Errorf("error %q is not a message for a person", err)
					}
					if strings.Contains(errOut+err.Error(), "v2.public.") {
						t.Errorf("a failed command printed a token: %s %v", errOut, err)
					}
				})
			}

			// keys list shows the one active key that signed every token.
			kid := keyID(t, member)
			if keyID(t, admin) != kid {
				t.Fatalf("the bootstrap and CLI tokens carry different kids")
			}
			listed := mustCLI(t, env, "keys", "list")
			rows := strings.Split(strings.TrimSpace(listed), "\n")
			if len(rows) != 2 || !strings.HasPrefix(rows[0], "KID") || !strings.HasPrefix(rows[1], kid+" ") ||
				strings.Fields(rows[1])[1] != "active" {
				t.Fatalf("keys list =\n%s\nwant a header and %s active", listed, kid)
			}

			// keys rotate prints the new kid; the running server keeps
			// accepting tokens signed before, and signs with the new key.
			newKID := onlyLine(t, "keys rotate", mustCLI(t, env, "keys", "rotate"))
			if newKID == kid || !strings.HasPrefix(newKID, "k2.pid.") {
				t.Fatalf("keys rotate printed %q, want a new k2.pid id", newKID)
			}
			listed = mustCLI(t, env, "keys", "list")
			if !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(kid)+` +retiring `).MatchString(listed) ||
				!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(newKID)+` +active `).MatchString(listed) {
				t.Errorf("after rotation, keys list =\n%s\nwant %s retiring and %s active", listed, kid, newKID)
			}
			for _, tok := range []string{admin, member} {
				if status, _ := forwardAuth(t, s, tok, "customers"); status != http.StatusOK {
					t.Errorf("a token signed before the rotation gets %d, want 200", status)
				}
			}
			rotated := onlyLine(t, "tokens create", mustCLI(t, env, "tokens", "create", "--user", memberID,
				"--scope", "customers", "--expires", "1h", "--description", "after rotation"))
			secrets = append(secrets, rotated)
			if got := keyID(t, rotated); got != newKID {
				t.Errorf("the CLI's token after rotation carries kid %s, want %s", got, newKID)
			}
			// The server learns of the key the CLI made within a second:
			// the first token naming it makes it reload its keys.
			status := 0
			for deadline := time.Now().Add(5 * time.Second); status != http.StatusOK && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				status, _ = forwardAuth(t, s, rotated, "customers")
			}
			if status != http.StatusOK {
				t.Errorf("a CLI token signed by the new key gets %d from the running server, want 200", status)
			}
			created := call(t, http.MethodPost, s.URL+"/users/"+memberID+"/api-tokens", admin,
				createTokenBody("API after rotation", "customers", time.Now().Add(time.Hour))).expect(t, http.StatusCreated)
			apiToken := createdToken(t, created)
			secrets = append(secrets, apiToken)
			if got := keyID(t, apiToken); got != newKID {
				t.Errorf("the server's token after rotation carries kid %s, want %s", got, newKID)
			}
			if status, _ := forwardAuth(t, s, apiToken, "customers"); status != http.StatusOK {
				t.Errorf("the server's token after rotation gets %d, want 200", status)
			}

			// Refused tokens, and tokens where tokend does not look for
			// them, get 401 and reach no log.
			tampered := member[:len(member)-20] + strings.Repeat("A", 20)
			secrets = append(secrets, tampered)
			if r := call(t, http.MethodGet, s.URL+"/users/"+memberID+"/api-tokens", tampered, nil); r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
				t.Errorf("a tampered token: %d %s, want 401 unauthorized", r.Status, r.Body)
			}
			for _, q := range []string{"access_token", "token"} {
				r := call(t, http.MethodGet, s.URL+"/users/"+memberID+"/api-tokens?"+q+"="+url.QueryEscape(reader), "", nil)
				if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
					t.Errorf("a token in ?%s: %d %s, want 401 unauthorized", q, r.Status, r.Body)
				}
			}

			// migrate on a migrated database applies nothing.
			_, errOut, err := cli(t, env, "migrate")
			if err != nil || !strings.Contains(errOut, "migrations applied count=0") {
				t.Errorf("migrate on a migrated database: %v\n%s", err, errOut)
			}

			if err := s.stop(); err != nil {
				t.Fatalf("serve: %v", err)
			}
			if got := tokenPattern.FindAllString(s.Stdout.String(), -1); len(got) != 0 {
				t.Errorf("serve's stdout holds tokens %q, want none", got)
			}
			logs := s.Stderr.String()
			if strings.Count(logs, `"msg":"request"`) < 10 {
				t.Fatalf("the access log has too few requests to prove anything:\n%s", logs)
			}
			for _, tok := range secrets {
				if strings.Contains(logs, tok) || strings.Contains(logs, signature(tok)) {
					t.Errorf("serve's log holds a token:\n%s", logs)
				}
			}
			if m := tokenPattern.FindString(logs); m != "" {
				t.Errorf("serve's log holds a token %q", m)
			}
		})
	}
}

// signature returns the last 40 characters of a token's signed part: a
// fragment that a log holding a truncated or reformatted token would show.
func signature(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) < 3 || len(parts[2]) < 40 {
		return token
	}
	return parts[2][len(parts[2])-40:]
}

func TestMigrate(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			env := newEnv(t, dialect)
			out, errOut, err := cli(t, env, "migrate")
			if err != nil {
				t.Fatalf("migrate: %v\n%s", err, errOut)
			}
			if out != "" {
				t.Errorf("migrate printed %q on stdout, want nothing", out)
			}
			if !regexp.MustCompile(`tokend: migrations applied count=[1-9]`).MatchString(errOut) {
				t.Fatalf("migrate on an empty database applied no migration:\n%s", errOut)
			}
			if _, errOut, err := cli(t, env, "migrate"); err != nil || !strings.Contains(errOut, "migrations applied count=0") {
				t.Errorf("a second migrate: %v, want no migration applied\n%s", err, errOut)
			}
			// A migrated database needs no migration when serve starts.
			s := startServe(t, env)
			if strings.Contains(s.Stderr.String(), "applied migration") {
				t.Errorf("serve applied migrations on a migrated database:\n%s", s.Stderr)
			}
			bootstrapToken(t, s)
		})
	}
}

func TestVersion(t *testing.T) {
	out := mustCLI(t, testEnv{}, "version")
	if out != "tokend "+version+"\n" {
		t.Errorf("version printed %q, want %q", out, "tokend "+version+"\n")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  testEnv
		want string
	}{
		{"no command", nil, nil, "no command"},
		{"an unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"an unknown users command", []string{"users", "delete"}, nil, `unknown command "users delete"`},
		{"keys without its command", []string{"keys"}, nil, `"keys" needs a command`},
		{"serve with an argument", []string{"serve", "now"}, nil, "serve takes no arguments"},
		{"a bad environment value", []string{"migrate"}, testEnv{"TOKEND_MAX_TOKEN_LIFETIME": "forever"}, "TOKEND_MAX_TOKEN_LIFETIME"},
		{"a bad flag value", []string{"migrate", "--log-format", "xml"}, nil, "log format"},
	} {
		t.Run(tc.name+" is a usage error", func(t *testing.T) {
			env := testEnv{"TOKEND_DATA_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			out, errOut, err := cli(t, env, tc.args...)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("err = %v (%T), want a usage error", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if strings.Contains(tc.want, "command") && !strings.Contains(errOut, "usage: tokend") {
				t.Errorf("stderr does not show the usage:\n%s", errOut)
			}
		})
	}
}

// TestReadOnlyCommandsCreateNothing checks that listing users or keys
// before tokend ever ran creates no database, secret or signing key.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	dataDir := t.TempDir()
	env := testEnv{"TOKEND_DATA_DIR": dataDir}
	for _, args := range [][]string{{"users", "list"}, {"keys", "list"}} {
		out, _, err := cli(t, env, args...)
		if err == nil || !strings.Contains(err.Error(), "no database") {
			t.Errorf("tokend %s on an empty data dir = %v, want an error saying there is no database", strings.Join(args, " "), err)
		}
		if out != "" {
			t.Errorf("stdout = %q", out)
		}
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("read-only commands created %v", entries)
	}
	// On a migrated database they still create no secret and no key.
	mustCLI(t, env, "migrate")
	before, _ := os.ReadDir(dataDir)
	out := mustCLI(t, env, "keys", "list")
	if strings.Count(out, "\n") != 1 {
		t.Errorf("keys list on a database without keys printed %q, want the header alone", out)
	}
	mustCLI(t, env, "users", "list")
	if after, _ := os.ReadDir(dataDir); len(after) != len(before) {
		t.Fatalf("read-only commands added files: %v, then %v", before, after)
	}
}

// TestFailuresExitWithTheirCodesStatus checks that a command failing with
// an application error exits with that code's status from errcode.
func TestFailuresExitWithTheirCodesStatus(t *testing.T) {
	env := newEnv(t, store.SQLite)
	_, _, err := cli(t, env, "users", "disable", uuid.NewString())
	if got, want := exitCode(err), errcode.NotFound.Exit(); got != want {
		t.Errorf("disabling an unknown user exits %d (%v), want %d", got, err, want)
	}
	_, _, err = cli(t, env, "users", "create", "--email", "x", "--role", "member")
	if got, want := exitCode(err), errcode.Invalid.Exit(); got != want {
		t.Errorf("a bad email exits %d (%v), want %d", got, err, want)
	}
	if got := exitCode(usageError{"x"}); got != 2 {
		t.Errorf("a usage error exits %d, want 2", got)
	}
}
