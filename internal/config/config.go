// Package config reads tokend's settings from command-line flags and
// TOKEND_* environment variables; a flag wins over its variable, and the
// variable over the default.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/pkg/clientip"
)

// Config is tokend's configuration.
type Config struct {
	// DatabaseURL is postgres://… for PostgreSQL, or sqlite:PATH; empty
	// means an SQLite file in DataDir.
	DatabaseURL string
	// DataDir holds the SQLite database and the generated secret.
	DataDir string
	// Listen is the HTTP listen address.
	Listen string
	// SecretFile, when set, holds TOKEND_SECRET.
	SecretFile string
	// Issuer is the iss claim of tokend's tokens.
	Issuer string
	// MaxTokenLifetime is the longest a token may live.
	MaxTokenLifetime time.Duration
	// TrustedProxies are the peers whose X-Forwarded-* headers are believed.
	TrustedProxies []netip.Prefix
	// ScopesFile replaces the default scope catalog when set.
	ScopesFile string
	// PublicURL is the base of the links tokend writes.
	PublicURL string
	// LogLevel and LogFormat (json or text) shape the logs on stderr.
	LogLevel  slog.Level
	LogFormat string
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// RequestTimeout bounds the work done for one request, database calls
	// included.
	RequestTimeout time.Duration
	// PprofListen, when set, is the address of a second listener serving
	// Go's profiles (net/http/pprof), block and mutex profiles included.
	PprofListen string
	// StateMaxAge is how long a replica vouches for tokens from its
	// in-memory state while it cannot confirm that state with the
	// database.
	StateMaxAge time.Duration
	// StateTokens bounds the tokens whose state a replica holds in memory.
	StateTokens int
	// AuthFailures limits failed authentications per client address,
	// TokenCreates token creations per user through the API; both per
	// replica.
	AuthFailures, TokenCreates ratelimit.Rule
	// Revocations limits POST /revoke per client address, per replica.
	Revocations ratelimit.Rule
	// MaxTokensPerUser bounds a user's tokens that are neither revoked
	// nor expired.
	MaxTokensPerUser int
	// TokenRetention is how long a token is kept after it stopped
	// working, revoked or expired, before serve purges it; 0 keeps tokens
	// for ever.
	TokenRetention time.Duration
	// AuditRetention is how long audit events are kept before serve
	// prunes them from the old end of the chain; 0 keeps them for ever.
	AuditRetention time.Duration
	// AuditLog, when set, is where each audit event is also written as a
	// JSON line once committed: "stdout" or a file's path.
	AuditLog string
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// SecretScanningKeys, when set, is a file of the keys GitHub signs
	// secret scanning reports with, in the format of its
	// /meta/public_keys/secret_scanning answer; reports must then be
	// signed by one of them.
	SecretScanningKeys string
	// BootstrapTokenFile is where serve writes the bootstrap admin token
	// when its standard output is not a terminal; empty means the file
	// bootstrap-token in DataDir.
	BootstrapTokenFile string
	// Webhooks are the deliveries' settings (TOKEND_WEBHOOK_*).
	Webhooks Webhooks
	// ExpiryNotices are the windows before a token's expiration at which
	// it gets an apiToken.expiring event, longest first.
	ExpiryNotices []time.Duration
	// ExpiryCheckInterval is how often expiring and unused tokens are
	// looked for.
	ExpiryCheckInterval time.Duration
	// DisableUnusedAfter, when positive, revokes the tokens unused for
	// that long (never used: since their creation).
	DisableUnusedAfter time.Duration

	// envErrs holds bad environment values no flag overrode, by variable.
	envErrs map[string]error
}

// Defaults.
const (
	DefaultListen           = ":8080"
	DefaultDataDir          = "data"
	DefaultIssuer           = "tokend"
	DefaultMaxTokenLifetime = 366 * 24 * time.Hour
	DefaultRequestTimeout   = 10 * time.Second
	DefaultStateMaxAge      = 5 * time.Second
	DefaultStateTokens      = 100_000
	DefaultMaxTokensPerUser = 1000
	DefaultTokenRetention   = 400 * 24 * time.Hour
	DefaultAuditRetention   = 400 * 24 * time.Hour
	// MinTokenRetention is the shortest retention accepted: shorter is
	// most likely a unit mistaken (400s for 400d), and would erase the
	// history of expired tokens as soon as they expire.
	MinTokenRetention = 24 * time.Hour
)

// The default rate limits: generous for people and automation, tight for
// a flood of bad tokens or a runaway script.
var (
	DefaultAuthFailures = ratelimit.Rule{Events: 100, Per: time.Minute}
	DefaultTokenCreates = ratelimit.Rule{Events: 60, Per: time.Minute}
	DefaultRevocations  = ratelimit.Rule{Events: 60, Per: time.Minute}
)

// Register defines tokend's flags on fs, with defaults taken from the
// environment, and returns the configuration they fill when fs is parsed.
// Call Finish after parsing.
func Register(fs *flag.FlagSet, getenv func(string) string) *Config {
	c := &Config{}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.DatabaseURL, "database-url", env("TOKEND_DATABASE_URL", ""),
		"database: postgres://… or sqlite:PATH; empty for an SQLite file in the data dir (TOKEND_DATABASE_URL)")
	fs.StringVar(&c.DataDir, "data-dir", env("TOKEND_DATA_DIR", DefaultDataDir),
		"directory for the SQLite database and a generated secret (TOKEND_DATA_DIR)")
	fs.StringVar(&c.Listen, "listen", env("TOKEND_LISTEN", DefaultListen), "HTTP listen address (TOKEND_LISTEN)")
	fs.StringVar(&c.SecretFile, "secret-file", env("TOKEND_SECRET_FILE", ""),
		"file holding the secret that seals signing keys; TOKEND_SECRET takes precedence (TOKEND_SECRET_FILE)")
	fs.StringVar(&c.Issuer, "issuer", env("TOKEND_ISSUER", DefaultIssuer), "iss claim of issued tokens (TOKEND_ISSUER)")
	fs.StringVar(&c.ScopesFile, "scopes-file", env("TOKEND_SCOPES_FILE", ""), "scope catalog replacing the default (TOKEND_SCOPES_FILE)")
	fs.StringVar(&c.PublicURL, "public-url", env("TOKEND_PUBLIC_URL", ""), "base URL of links in responses (TOKEND_PUBLIC_URL)")
	fs.StringVar(&c.LogFormat, "log-format", env("TOKEND_LOG_FORMAT", "json"), "json or text (TOKEND_LOG_FORMAT)")
	fs.StringVar(&c.BootstrapTokenFile, "bootstrap-token-file", env("TOKEND_BOOTSTRAP_TOKEN_FILE", ""),
		"where the first start writes the bootstrap admin token when stdout is not a terminal; default: bootstrap-token in the data dir (TOKEND_BOOTSTRAP_TOKEN_FILE)")
	fs.StringVar(&c.SecretScanningKeys, "secret-scanning-keys", env("TOKEND_SECRET_SCANNING_KEYS", ""),
		"file of the keys GitHub signs secret scanning reports with (its /meta/public_keys/secret_scanning answer); unset accepts unsigned reports (TOKEND_SECRET_SCANNING_KEYS)")
	fs.StringVar(&c.PprofListen, "pprof-listen", env("TOKEND_PPROF_LISTEN", ""),
		"address of a listener serving Go's profiles, such as 127.0.0.1:6060; keep it private (TOKEND_PPROF_LISTEN)")
	fs.StringVar(&c.AuditLog, "audit-log", env("TOKEND_AUDIT_LOG", ""),
		"also write each audit event as a JSON line, once committed, to stdout or to this file (TOKEND_AUDIT_LOG)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "time allowed for a graceful shutdown")

	// Settings that need parsing: the environment sets them first, and a
	// flag given on the command line overrides it, a bad value included.
	c.MaxTokenLifetime = DefaultMaxTokenLifetime
	c.RequestTimeout = DefaultRequestTimeout
	c.StateMaxAge, c.StateTokens = DefaultStateMaxAge, DefaultStateTokens
	c.AuthFailures, c.TokenCreates, c.MaxTokensPerUser = DefaultAuthFailures, DefaultTokenCreates, DefaultMaxTokensPerUser
	c.Revocations = DefaultRevocations
	c.TokenRetention = DefaultTokenRetention
	c.Webhooks = DefaultWebhooks
	c.ExpiryNotices, c.ExpiryCheckInterval = DefaultExpiryNotices, DefaultExpiryCheckInterval
	c.AuditRetention = DefaultAuditRetention
	c.envErrs = map[string]error{}
	for _, p := range []struct {
		flag, env, usage string
		set              func(string) error
	}{
		{"max-token-lifetime", "TOKEND_MAX_TOKEN_LIFETIME", "longest token lifetime, such as 366d or 720h",
			func(s string) (err error) { c.MaxTokenLifetime, err = ParseDuration(s); return }},
		{"trusted-proxies", "TOKEND_TRUSTED_PROXIES", "comma-separated proxy addresses or CIDR ranges whose X-Forwarded-For is believed",
			func(s string) (err error) { c.TrustedProxies, err = clientip.ParsePrefixes(s); return }},
		{"request-timeout", "TOKEND_REQUEST_TIMEOUT", "longest time spent on one request, such as 10s",
			func(s string) (err error) { c.RequestTimeout, err = ParseDuration(s); return }},
		{"state-max-age", "TOKEND_STATE_MAX_AGE", "how long a replica vouches for tokens while it cannot confirm its in-memory state, such as 5s",
			func(s string) (err error) { c.StateMaxAge, err = ParseDuration(s); return }},
		{"state-tokens", "TOKEND_STATE_TOKENS", "most tokens whose state a replica holds in memory",
			func(s string) (err error) { c.StateTokens, err = strconv.Atoi(s); return }},
		{"rate-auth-failures", "TOKEND_RATE_AUTH_FAILURES", "failed authentications allowed per client address, such as 100/1m, or off; per replica",
			func(s string) (err error) { c.AuthFailures, err = ratelimit.ParseRule(s); return }},
		{"rate-token-creates", "TOKEND_RATE_TOKEN_CREATES", "tokens one user may create through the API, such as 60/1m, or off; per replica",
			func(s string) (err error) { c.TokenCreates, err = ratelimit.ParseRule(s); return }},
		{"rate-revocations", "TOKEND_RATE_REVOCATIONS", "POST /revoke requests allowed per client address, such as 60/1m, or off; per replica",
			func(s string) (err error) { c.Revocations, err = ratelimit.ParseRule(s); return }},
		{"max-tokens-per-user", "TOKEND_MAX_TOKENS_PER_USER", "most tokens a user may hold that are neither revoked nor expired",
			func(s string) (err error) { c.MaxTokensPerUser, err = strconv.Atoi(s); return }},
		{"token-retention", "TOKEND_TOKEN_RETENTION", "how long revoked and expired tokens are kept before they are purged, such as 400d, or off",
			func(s string) (err error) { c.TokenRetention, err = parseRetention(s); return }},
		{"audit-retention", "TOKEND_AUDIT_RETENTION", "how long audit events are kept before they are pruned, such as 400d, or off",
			func(s string) (err error) { c.AuditRetention, err = parseRetention(s); return }},
		{"cors-origins", "TOKEND_CORS_ORIGINS", "comma-separated browser origins allowed to call the API, such as https://dashboard.example.com",
			func(s string) (err error) { c.CORSOrigins, err = parseOrigins(s); return }},
		{"webhook-allow-private", "TOKEND_WEBHOOK_ALLOW_PRIVATE", "let webhooks reach loopback, private and link-local addresses: true or false",
			func(s string) (err error) { c.Webhooks.AllowPrivate, err = strconv.ParseBool(s); return }},
		{"webhook-timeout", "TOKEND_WEBHOOK_TIMEOUT", "longest a delivery attempt may take, such as 5s",
			func(s string) (err error) { c.Webhooks.Timeout, err = ParseDuration(s); return }},
		{"webhook-retry-first", "TOKEND_WEBHOOK_RETRY_FIRST", "wait before a delivery's first retry, such as 5s; each retry waits 3 times longer",
			func(s string) (err error) { c.Webhooks.Backoff.First, err = ParseDuration(s); return }},
		{"webhook-retry-max", "TOKEND_WEBHOOK_RETRY_MAX", "longest wait between two retries, such as 6h",
			func(s string) (err error) { c.Webhooks.Backoff.Max, err = ParseDuration(s); return }},
		{"webhook-retries", "TOKEND_WEBHOOK_RETRIES", "retries of a failed delivery before it is given up",
			func(s string) (err error) { c.Webhooks.Backoff.Retries, err = strconv.Atoi(s); return }},
		{"webhook-max-failures", "TOKEND_WEBHOOK_MAX_FAILURES", "failed attempts in a row that disable a webhook, or 0 for never",
			func(s string) (err error) { c.Webhooks.MaxFailures, err = strconv.Atoi(s); return }},
		{"webhook-poll", "TOKEND_WEBHOOK_POLL", "how often each replica looks for due deliveries, such as 1s",
			func(s string) (err error) { c.Webhooks.Poll, err = ParseDuration(s); return }},
		{"expiry-notices", "TOKEND_EXPIRY_NOTICES", "comma-separated windows before a token's expiration that each give an apiToken.expiring event, such as 7d,1d, or off",
			func(s string) (err error) { c.ExpiryNotices, err = parseWindows(s); return }},
		{"expiry-check-interval", "TOKEND_EXPIRY_CHECK_INTERVAL", "how often expiring and unused tokens are looked for, such as 30s",
			func(s string) (err error) { c.ExpiryCheckInterval, err = ParseDuration(s); return }},
		{"disable-unused-after", "TOKEND_DISABLE_UNUSED_AFTER", "revoke tokens unused for that long, such as 90d, or off",
			func(s string) (err error) { c.DisableUnusedAfter, err = parseRetention(s); return }},
		{"log-level", "TOKEND_LOG_LEVEL", "debug, info, warn or error",
			func(s string) error { return c.LogLevel.UnmarshalText([]byte(s)) }},
	} {
		fs.Func(p.flag, p.usage+" ("+p.env+")", func(s string) error {
			delete(c.envErrs, p.env)
			return p.set(s)
		})
		if v := getenv(p.env); v != "" {
			if err := p.set(v); err != nil {
				c.envErrs[p.env] = fmt.Errorf("%s: %w", p.env, err)
			}
		}
	}
	return c
}

// FromEnv returns the configuration the environment sets, with no flags:
// what a command run with only TOKEND_* variables gets.
func FromEnv(getenv func(string) string) (*Config, error) {
	fs := flag.NewFlagSet("tokend", flag.ContinueOnError)
	c := Register(fs, getenv)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	return c, c.Finish()
}

// Finish checks the parsed configuration and fills in what derives from it.
func (c *Config) Finish() error {
	if len(c.envErrs) > 0 {
		errs := slices.SortedFunc(maps.Values(c.envErrs), func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return errors.Join(errs...)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "tokend.db")
	}
	if c.BootstrapTokenFile == "" {
		c.BootstrapTokenFile = filepath.Join(c.DataDir, "bootstrap-token")
	}
	if c.MaxTokenLifetime <= 0 {
		return errors.New("max token lifetime must be positive")
	}
	if c.RequestTimeout <= 0 {
		return errors.New("request timeout must be positive")
	}
	if c.MaxTokensPerUser <= 0 {
		return errors.New("max tokens per user must be positive")
	}
	if c.TokenRetention < 0 || (c.TokenRetention > 0 && c.TokenRetention < MinTokenRetention) {
		return fmt.Errorf("token retention must be off or at least 1d, not %v", c.TokenRetention)
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < MinTokenRetention) {
		return fmt.Errorf("audit retention must be off or at least 1d, not %v", c.AuditRetention)
	}
	if c.StateMaxAge <= 0 || c.StateTokens <= 0 {
		return errors.New("state max age and state tokens must be positive")
	}
	if c.Issuer == "" {
		return errors.New("issuer must not be empty")
	}
	if c.PublicURL != "" {
		if !webURL(c.PublicURL, true) {
			return fmt.Errorf("TOKEND_PUBLIC_URL must be an http or https URL with a host and no user, query or fragment, such as https://tokens.example.com, not %q", c.PublicURL)
		}
		c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	}
	if err := c.Webhooks.check(); err != nil {
		return err
	}
	if c.ExpiryCheckInterval <= 0 || c.ExpiryCheckInterval > 30*time.Second {
		return fmt.Errorf("expiry check interval must be positive and at most 30s, not %v", c.ExpiryCheckInterval)
	}
	if c.DisableUnusedAfter < 0 || (c.DisableUnusedAfter > 0 && c.DisableUnusedAfter < 24*time.Hour) {
		return fmt.Errorf("disable unused after must be off or at least 1d, not %v", c.DisableUnusedAfter)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("log format must be json or text, not %q", c.LogFormat)
	}
	return nil
}

// ParseDuration parses a Go duration, also accepting whole days as "366d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// parseRetention reads a retention: a duration as ParseDuration reads it,
// or "off", which is 0, as "0" is.
func parseRetention(s string) (time.Duration, error) {
	if s == "off" {
		return 0, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid retention %q: want a duration such as 400d, or off", s)
	}
	return d, nil
}

// Secret returns the secret that seals the signing keys: TOKEND_SECRET, or
// the secret file's content, or a secret generated into DataDir on first
// use. A generated secret is announced by warn: replicas sharing a database
// must share the secret, so production sets TOKEND_SECRET.
func (c *Config) Secret(getenv func(string) string, warn func(msg string, args ...any)) (string, error) {
	if s := getenv("TOKEND_SECRET"); s != "" {
		return checkSecret(s, "TOKEND_SECRET")
	}
	path := c.SecretFile
	generated := false
	if path == "" {
		path = filepath.Join(c.DataDir, "secret")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := generateSecret(path); err != nil {
				return "", err
			}
			generated = true
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	if generated {
		warn("TOKEND_SECRET is not set: generated a secret; set TOKEND_SECRET in production, the same on every replica, and keep it safe",
			"path", path)
	} else if c.SecretFile == "" {
		warn("TOKEND_SECRET is not set: using the secret generated earlier", "path", path)
	}
	return checkSecret(strings.TrimSpace(string(b)), path)
}

func checkSecret(s, source string) (string, error) {
	if err := keys.CheckSecret(s); err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	return s, nil
}

func generateSecret(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another tokend process generated it just now
	} else if err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	_, err = f.WriteString(base64.RawURLEncoding.EncodeToString(b) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// parseOrigins reads a comma-separated list of origins: scheme and host
// (and port), as a browser sends them in Origin. A wildcard is refused:
// the list names who may call tokend from a page.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if !webURL(o, false) {
			return nil, fmt.Errorf("%q is not an origin such as https://dashboard.example.com (no wildcard, path or query)", o)
		}
		u, _ := url.Parse(o)
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out, nil
}

// webURL reports whether s is an http or https URL with a host (no
// wildcard in it) and no user, query or fragment, nor a path unless path
// allows one.
func webURL(s string, path bool) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.Contains(u.Host, "*") &&
		u.User == nil && u.Opaque == "" && u.RawQuery == "" && u.Fragment == "" && !strings.ContainsAny(s, "?#") &&
		(path || u.Path == "" || u.Path == "/")
}
