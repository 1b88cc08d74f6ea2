package config_test

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
)

// env is an environment for getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// MustLoad registers the flags with the environment, parses args and
// finishes the configuration, failing the test on any error.
func MustLoad(tb testing.TB, e env, args ...string) *config.Config {
	tb.Helper()
	c, err := load(e, args...)
	if err != nil {
		tb.Fatalf("load(%v, %q): %v", e, args, err)
	}
	return c
}

func load(e env, args ...string) (*config.Config, error) {
	fs := flag.NewFlagSet("tokend", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := config.Register(fs, e.get)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, c.Finish()
}

func TestDefaults(t *testing.T) {
	c := MustLoad(t, env{})
	checks := []struct {
		name      string
		got, want any
	}{
		{"Listen", c.Listen, ":8080"},
		{"DataDir", c.DataDir, "data"},
		{"DatabaseURL", c.DatabaseURL, "sqlite:" + filepath.Join("data", "tokend.db")},
		{"Issuer", c.Issuer, "tokend"},
		{"MaxTokenLifetime", c.MaxTokenLifetime, 366 * 24 * time.Hour},
		{"TrustedProxies", len(c.TrustedProxies), 0},
		{"SecretFile", c.SecretFile, ""},
		{"ScopesFile", c.ScopesFile, ""},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, "json"},
		{"ShutdownTimeout", c.ShutdownTimeout, 15 * time.Second},
		{"TokenRetention", c.TokenRetention, 400 * 24 * time.Hour},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestFlagsWinOverEnvironmentOverDefaults(t *testing.T) {
	full := env{
		"TOKEND_DATABASE_URL":       "postgres://env/db",
		"TOKEND_DATA_DIR":           "/env/data",
		"TOKEND_LISTEN":             ":9000",
		"TOKEND_SECRET_FILE":        "/env/secret",
		"TOKEND_ISSUER":             "env-issuer",
		"TOKEND_MAX_TOKEN_LIFETIME": "30d",
		"TOKEND_TRUSTED_PROXIES":    "10.0.0.0/8, 192.168.0.1",
		"TOKEND_SCOPES_FILE":        "/env/scopes.txt",
		"TOKEND_PUBLIC_URL":         "https://env.example.com",
		"TOKEND_LOG_LEVEL":          "debug",
		"TOKEND_LOG_FORMAT":         "text",
	}
	flags := []string{
		"-database-url", "sqlite:/flag/db", "-data-dir", "/flag/data", "-listen", ":7000",
		"-secret-file", "/flag/secret", "-issuer", "flag-issuer", "-max-token-lifetime", "720h",
		"-trusted-proxies", "172.16.0.0/12", "-scopes-file", "/flag/scopes.txt",
		"-public-url", "https://flag.example.com", "-log-level", "warn", "-log-format", "json",
	}
	show := func(c *config.Config) string {
		return fmt.Sprint(c.DatabaseURL, "|", c.DataDir, "|", c.Listen, "|", c.SecretFile, "|", c.Issuer, "|",
			c.MaxTokenLifetime, "|", c.TrustedProxies, "|", c.ScopesFile, "|", c.PublicURL, "|", c.LogLevel, "|", c.LogFormat)
	}

	t.Run("the environment sets every setting", func(t *testing.T) {
		got := show(MustLoad(t, full))
		want := "postgres://env/db|/env/data|:9000|/env/secret|env-issuer|720h0m0s|[10.0.0.0/8 192.168.0.1/32]|" +
			"/env/scopes.txt|https://env.example.com|DEBUG|text"
		if got != want {
			t.Fatalf("config =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("flags win over the environment for every setting", func(t *testing.T) {
		got := show(MustLoad(t, full, flags...))
		want := "sqlite:/flag/db|/flag/data|:7000|/flag/secret|flag-issuer|720h0m0s|[172.16.0.0/12]|" +
			"/flag/scopes.txt|https://flag.example.com|WARN|json"
		if got != want {
			t.Fatalf("config =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("flags set every setting without environment", func(t *testing.T) {
		got := show(MustLoad(t, env{}, flags...))
		want := "sqlite:/flag/db|/flag/data|:7000|/flag/secret|flag-issuer|720h0m0s|[172.16.0.0/12]|" +
			"/flag/scopes.txt|https://flag.example.com|WARN|json"
		if got != want {
			t.Fatalf("config =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("an empty variable counts as unset", func(t *testing.T) {
		c := MustLoad(t, env{"TOKEND_LISTEN": "", "TOKEND_ISSUER": "", "TOKEND_MAX_TOKEN_LIFETIME": ""})
		if c.Listen != ":8080" || c.Issuer != "tokend" || c.MaxTokenLifetime != 366*24*time.Hour {
			t.Fatalf("empty variables gave listen %q, issuer %q, lifetime %v; want the defaults", c.Listen, c.Issuer, c.MaxTokenLifetime)
		}
	})
	t.Run("the SQLite file follows the data dir", func(t *testing.T) {
		c := MustLoad(t, env{"TOKEND_DATA_DIR": "/var/lib/tokend"})
		if want := "sqlite:" + filepath.Join("/var/lib/tokend", "tokend.db"); c.DatabaseURL != want {
			t.Fatalf("DatabaseURL = %q, want %q", c.DatabaseURL, want)
		}
		c = MustLoad(t, env{}, "-data-dir", "/srv/tokend")
		if want := "sqlite:" + filepath.Join("/srv/tokend", "tokend.db"); c.DatabaseURL != want {
			t.Fatalf("DatabaseURL = %q, want %q", c.DatabaseURL, want)
		}
	})
}

func TestBadSettingsAreRefused(t *testing.T) {
	tests := []struct {
		name string
		env  env
		args []string
		want string // substring of the error
	}{
		{"a lifetime variable that is not a duration", env{"TOKEND_MAX_TOKEN_LIFETIME": "forever"}, nil, `TOKEND_MAX_TOKEN_LIFETIME: invalid duration "forever"`},
		{"a trusted proxies variable with a host name", env{"TOKEND_TRUSTED_PROXIES": "proxy.local"}, nil, "TOKEND_TRUSTED_PROXIES"},
		{"a log level variable that is unknown", env{"TOKEND_LOG_LEVEL": "loud"}, nil, "TOKEND_LOG_LEVEL"},
		{"a lifetime flag that is not a duration", nil, []string{"-max-token-lifetime", "1y"}, `invalid duration "1y"`},
		{"a trusted proxies flag with a bad range", nil, []string{"-trusted-proxies", "10.0.0.0/33"}, "10.0.0.0/33"},
		{"a zero lifetime", env{"TOKEND_MAX_TOKEN_LIFETIME": "0d"}, nil, "max token lifetime must be positive"},
		{"a negative lifetime", nil, []string{"-max-token-lifetime", "-1h"}, "max token lifetime must be positive"},
		{"an empty issuer flag", nil, []string{"-issuer", ""}, "issuer must not be empty"},
		{"an unknown log format", env{"TOKEND_LOG_FORMAT": "xml"}, nil, `log format must be json or text, not "xml"`},
		{"an unknown flag", nil, []string{"-colour"}, "colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.env, tt.args...)
			if err == nil {
				t.Fatalf("load succeeded with %+v, want an error", c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	t.Run("every bad variable is reported at once", func(t *testing.T) {
		_, err := load(env{"TOKEND_MAX_TOKEN_LIFETIME": "x", "TOKEND_TRUSTED_PROXIES": "y", "TOKEND_LOG_LEVEL": "z"})
		for _, name := range []string{"TOKEND_MAX_TOKEN_LIFETIME", "TOKEND_TRUSTED_PROXIES", "TOKEND_LOG_LEVEL"} {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("error %v does not mention %s", err, name)
			}
		}
	})
}

func TestTokenRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"400d":  400 * 24 * time.Hour,
		"9600h": 400 * 24 * time.Hour,
		"1d":    24 * time.Hour,
		"24h":   24 * time.Hour,
		"off":   0,
		"0":     0,
		"0d":    0,
	} {
		t.Run(in+" is accepted", func(t *testing.T) {
			if c := MustLoad(t, env{"TOKEND_TOKEN_RETENTION": in}); c.TokenRetention != want {
				t.Fatalf("TOKEND_TOKEN_RETENTION=%s gave %v, want %v", in, c.TokenRetention, want)
			}
		})
	}
	t.Run("the flag wins over the variable", func(t *testing.T) {
		if c := MustLoad(t, env{"TOKEND_TOKEN_RETENTION": "off"}, "-token-retention", "30d"); c.TokenRetention != 30*24*time.Hour {
			t.Fatalf("retention %v, want 30d", c.TokenRetention)
		}
	})
	for in, want := range map[string]string{
		"23h":    "token retention must be off or at least 1d",
		"400s":   "token retention must be off or at least 1d",
		"-5h":    "token retention must be off or at least 1d",
		"-1d":    `TOKEND_TOKEN_RETENTION: invalid retention "-1d"`,
		"never":  `TOKEND_TOKEN_RETENTION: invalid retention "never": want a duration such as 400d, or off`,
		"400":    `invalid retention "400"`,
		"Off":    `invalid retention "Off"`,
		"1y":     `invalid retention "1y"`,
		"400d ":  `invalid retention "400d "`,
		"-0.5ms": "token retention must be off or at least 1d",
	} {
		t.Run(fmt.Sprintf("%q is refused", in), func(t *testing.T) {
			_, err := load(env{"TOKEND_TOKEN_RETENTION": in})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("TOKEND_TOKEN_RETENTION=%q gave error %v, want one with %q", in, err, want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	valid := map[string]time.Duration{
		"366d":   366 * 24 * time.Hour,
		"1d":     24 * time.Hour,
		"0d":     0,
		"720h":   720 * time.Hour,
		"1h30m":  90 * time.Minute,
		"90s":    90 * time.Second,
		"-5h":    -5 * time.Hour, // Finish refuses it as a lifetime
		"0":      0,
		"1.5h":   90 * time.Minute,
		"10000d": 10000 * 24 * time.Hour,
	}
	for in, want := range valid {
		t.Run(in+" is valid", func(t *testing.T) {
			got, err := config.ParseDuration(in)
			if err != nil || got != want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
			}
		})
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "1 d", " 1d", "1w", "1y", "10", "abc", "1dd", "+d"} {
		t.Run(fmt.Sprintf("%q is refused", in), func(t *testing.T) {
			got, err := config.ParseDuration(in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", in, got)
			}
			if want := fmt.Sprintf("invalid duration %q", in); err.Error() != want {
				t.Fatalf("error = %q, want %q", err, want)
			}
		})
	}
}

// warnings records what Secret warns about.
type warnings []string

func (w *warnings) warn(msg string, args ...any) { *w = append(*w, msg) }

const longSecret = "9b1e4d7a0c3f6e2b8d5a1c4f7e0b3d69" // exactly the minimum length

func TestSecret(t *testing.T) {
	t.Run("TOKEND_SECRET wins over a secret file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "secret")
		writeFile(t, file, "file-secret-file-secret-file-secret-0000\n", 0o600)
		c := MustLoad(t, env{}, "-secret-file", file)
		var w warnings
		got, err := c.Secret(env{"TOKEND_SECRET": longSecret}.get, w.warn)
		if err != nil || got != longSecret {
			t.Fatalf("Secret = %q, %v; want TOKEND_SECRET", got, err)
		}
		if len(w) != 0 {
			t.Fatalf("Secret warned %q with TOKEND_SECRET set", w)
		}
	})
	t.Run("a TOKEND_SECRET shorter than 32 characters is refused", func(t *testing.T) {
		c := MustLoad(t, env{}, "-data-dir", t.TempDir())
		_, err := c.Secret(env{"TOKEND_SECRET": longSecret[1:]}.get, (&warnings{}).warn)
		if err == nil || !strings.Contains(err.Error(), "TOKEND_SECRET: the secret must be at least 32 characters") {
			t.Fatalf("Secret = %v, want a too-short error naming TOKEND_SECRET", err)
		}
	})
	t.Run("a TOKEND_SECRET that is not random is refused", func(t *testing.T) {
		c := MustLoad(t, env{}, "-data-dir", t.TempDir())
		for _, weak := range []string{strings.Repeat("a", 64), strings.Repeat("ab", 32), strings.Repeat("secret", 8),
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "00000000000000000000000000000000000000000000000000000001"} {
			if _, err := c.Secret(env{"TOKEND_SECRET": weak}.get, (&warnings{}).warn); err == nil || !strings.Contains(err.Error(), "TOKEND_SECRET: the secret is") {
				t.Errorf("Secret(%q) = %v, want it refused as not random", weak, err)
			}
		}
		// What the README and openssl generate is accepted, as is 32
		// random hexadecimal digits (128 bits).
		for _, good := range []string{"3q2+7wABCDEFghijKLMNopqrSTUVwxyz0123456789+/=", "5f0c9a8e2b7d4c1f6a3e8b0d9c2f7a41", longSecret} {
			if _, err := c.Secret(env{"TOKEND_SECRET": good}.get, (&warnings{}).warn); err != nil {
				t.Errorf("Secret(%d characters): %v", len(good), err)
			}
		}
	})
	t.Run("a secret file is read and trimmed, without a warning", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "secret")
		writeFile(t, file, "  "+longSecret+"\r\n", 0o600)
		c := MustLoad(t, env{"TOKEND_SECRET_FILE": file})
		var w warnings
		got, err := c.Secret(env{}.get, w.warn)
		if err != nil || got != longSecret {
			t.Fatalf("Secret = %q, %v; want the file's secret", got, err)
		}
		if len(w) != 0 {
			t.Fatalf("Secret warned %q for an explicit secret file", w)
		}
	})
	t.Run("a missing secret file is an error, not a generated secret", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "missing")
		c := MustLoad(t, env{}, "-secret-file", file, "-data-dir", dir)
		if _, err := c.Secret(env{}.get, (&warnings{}).warn); err == nil || !strings.Contains(err.Error(), "read secret") {
			t.Fatalf("Secret = %v, want a read error", err)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Fatalf("Secret created the missing secret file: %v", err)
		}
	})
	t.Run("a short secret file is refused, naming the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "secret")
		writeFile(t, file, "short\n", 0o600)
		c := MustLoad(t, env{}, "-secret-file", file)
		_, err := c.Secret(env{}.get, (&warnings{}).warn)
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "at least 32") {
			t.Fatalf("Secret = %v, want a too-short error naming %s", err, file)
		}
	})
	t.Run("without a secret one is generated into the data dir, private, and reused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "data")
		c := MustLoad(t, env{"TOKEND_DATA_DIR": dir})
		var w warnings
		first, err := c.Secret(env{}.get, w.warn)
		if err != nil {
			t.Fatalf("Secret: %v", err)
		}
		if len(first) < 32 {
			t.Fatalf("generated secret %q is shorter than 32 characters", first)
		}
		info, err := os.Stat(filepath.Join(dir, "secret"))
		if err != nil {
			t.Fatalf("no secret file in the data dir: %v", err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Fatalf("secret file mode = %v, want 0600", mode)
		}
		if dirInfo, err := os.Stat(dir); err != nil || dirInfo.Mode().Perm() != 0o700 {
			t.Fatalf("created data dir: %v, %v; want mode 0700", dirInfo.Mode().Perm(), err)
		}
		if len(w) != 1 || !strings.Contains(w[0], "generated a secret") {
			t.Fatalf("warnings = %q, want one about the generated secret", w)
		}

		second, err := c.Secret(env{}.get, w.warn)
		if err != nil || second != first {
			t.Fatalf("second Secret = %q, %v; want the same secret %q", second, err, first)
		}
		if len(w) != 2 || !strings.Contains(w[1], "generated earlier") {
			t.Fatalf("warnings = %q, want a second one about reusing the secret", w)
		}
		other, err := c.Secret(env{}.get, w.warn)
		if err != nil || other != first {
			t.Fatalf("third Secret = %q, %v", other, err)
		}
	})
	t.Run("two data dirs get different secrets", func(t *testing.T) {
		a := MustLoad(t, env{}, "-data-dir", t.TempDir())
		b := MustLoad(t, env{}, "-data-dir", t.TempDir())
		sa, errA := a.Secret(env{}.get, (&warnings{}).warn)
		sb, errB := b.Secret(env{}.get, (&warnings{}).warn)
		if errA != nil || errB != nil || sa == sb {
			t.Fatalf("secrets %q (%v) and %q (%v), want two different ones", sa, errA, sb, errB)
		}
	})
	t.Run("a short secret left in the data dir is refused", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "secret"), "tiny", 0o600)
		c := MustLoad(t, env{}, "-data-dir", dir)
		if _, err := c.Secret(env{}.get, (&warnings{}).warn); err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Fatalf("Secret = %v, want a too-short error", err)
		}
	})
}

func writeFile(tb testing.TB, path, content string, mode os.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
}

func TestAFlagOverridesABadEnvironmentValue(t *testing.T) {
	env := map[string]string{"TOKEND_MAX_TOKEN_LIFETIME": "forever", "TOKEND_LOG_LEVEL": "loud"}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := config.Register(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"--max-token-lifetime", "30d"}); err != nil {
		t.Fatal(err)
	}
	err := c.Finish()
	if err == nil || !strings.Contains(err.Error(), "TOKEND_LOG_LEVEL") || strings.Contains(err.Error(), "TOKEND_MAX_TOKEN_LIFETIME") {
		t.Fatalf("Finish = %v, want only the TOKEND_LOG_LEVEL error", err)
	}
	if c.MaxTokenLifetime != 30*24*time.Hour {
		t.Fatalf("MaxTokenLifetime = %v", c.MaxTokenLifetime)
	}
}

func TestCORSOrigins(t *testing.T) {
	c := MustLoad(t, env{"TOKEND_CORS_ORIGINS": "https://Dash.example.com, http://localhost:3000/"})
	if got := strings.Join(c.CORSOrigins, " "); got != "https://dash.example.com http://localhost:3000" {
		t.Errorf("CORSOrigins = %q", got)
	}
	for _, bad := range []string{"*", "https://*.example.com", "dash.example.com", "https://dash.example.com/app", "ftp://x", "https://u@x.com"} {
		if _, err := load(env{"TOKEND_CORS_ORIGINS": bad}); err == nil || !strings.Contains(err.Error(), "TOKEND_CORS_ORIGINS") {
			t.Errorf("TOKEND_CORS_ORIGINS=%q: %v, want refused", bad, err)
		}
	}
}
