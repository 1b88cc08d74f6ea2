package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/httpapi"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/clientip"
	"github.com/tokend/tokend/schema"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: tokend <command> [flags]

Commands:
  serve                      run the API (applies migrations first)
  migrate                    apply migrations and exit
  users create --email E --role admin|member [--service] [--scopes "…"]
                             create a user and print its id
  users list                 list users
  users disable ID | enable ID
  tokens create --user ID --scope "…" --description D [--expires 720h] [--source-ip …]
                             create a token and print it
  keys list                  list signing keys
  keys rotate                make a new signing key active
  keys retire KID            stop a retiring key from verifying anything
  healthcheck                exit 0 if the tokend at --listen is ready (for containers)
  version                    print the version

Run "tokend serve -h" for the configuration flags every command takes.
`

// usageError reports a command line that cannot be run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errHelp ends a command whose help was asked for.
var errHelp = errors.New("help requested")

// run runs tokend with the given arguments and environment; main calls it
// with the process's, tests with their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return cliError(err)
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	e := env{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch {
	case cmd == "serve":
		return e.serve(rest)
	case cmd == "migrate":
		return e.migrate(rest)
	case cmd == "users" && sub == "create":
		return e.usersCreate(rest[1:])
	case cmd == "users" && sub == "list":
		return e.usersList(rest[1:])
	case cmd == "users" && (sub == "disable" || sub == "enable"):
		return e.usersSetDisabled(rest[1:], sub == "disable")
	case cmd == "tokens" && sub == "create":
		return e.tokensCreate(rest[1:])
	case cmd == "keys" && sub == "list":
		return e.keysList(rest[1:])
	case cmd == "keys" && sub == "rotate":
		return e.keysRotate(rest[1:])
	case cmd == "keys" && sub == "retire":
		return e.keysRetire(rest[1:])
	case cmd == "healthcheck":
		return e.healthcheck(rest)
	case cmd == "version":
		fmt.Fprintln(stdout, "tokend", version)
		return nil
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))}
}

// env is what every command runs with.
type env struct {
	ctx            context.Context
	getenv         func(string) string
	stdout, stderr io.Writer
}

// parse parses a command's flags: the configuration flags, and those
// define adds. It returns the configuration and the arguments left over.
func (e env) parse(name string, args []string, define func(*flag.FlagSet)) (*config.Config, []string, error) {
	fs := flag.NewFlagSet("tokend "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := config.Register(fs, e.getenv)
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, errHelp
		}
		return nil, nil, usageError{err.Error()}
	}
	if err := cfg.Finish(); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	return cfg, fs.Args(), nil
}

func (e env) logger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(e.stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.stderr, opts))
}

// app is tokend assembled: the migrated store, the key ring and the service.
type app struct {
	store *store.Store
	ring  *keys.Ring
	svc   *service.Service
}

// open assembles tokend: it connects to the database, waiting up to wait
// for it to come up, applies pending migrations, loads the scope catalog
// and the signing keys.
func (e env) open(cfg *config.Config, log *slog.Logger, wait time.Duration) (*app, error) {
	st, err := openStore(e.ctx, cfg.DatabaseURL, log, wait)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	applied, err := st.Migrate(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, m := range applied {
		log.Info("applied migration", "migration", m)
	}
	catalog, err := loadCatalog(cfg.ScopesFile)
	if err != nil {
		return nil, err
	}
	secret, err := cfg.Secret(e.getenv, log.Warn)
	if err != nil {
		return nil, err
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		return nil, err
	}
	ring := keys.NewRing(st.Keys, sealer, nil)
	if err := ring.Load(e.ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	svc := service.New(st, ring, catalog, service.Config{Issuer: cfg.Issuer, MaxLifetime: cfg.MaxTokenLifetime})
	ok = true
	return &app{store: st, ring: ring, svc: svc}, nil
}

// openStore opens the database, retrying while it is unreachable for up to
// wait, so that tokend and its database may start together.
func openStore(ctx context.Context, url string, log *slog.Logger, wait time.Duration) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := store.Open(octx, url)
		cancel()
		if err == nil || apitoken.ErrorCode(err) != apitoken.Unavailable || time.Now().After(deadline) {
			return st, err
		}
		log.Warn("database unreachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func loadCatalog(path string) (*apitoken.Catalog, error) {
	data := schema.Scopes
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read scope catalog: %w", err)
		}
	}
	return apitoken.ParseCatalog(data)
}

func (a *app) close() { a.store.Close() }

// serve runs the HTTP API until ctx ends, then shuts down gracefully.
func (e env) serve(args []string) error {
	cfg, rest, err := e.parse("serve", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{"serve takes no arguments"}
	}
	log := e.logger(cfg)
	a, err := e.open(cfg, log, 60*time.Second)
	if err != nil {
		return err
	}
	defer a.close()

	user, token, err := a.svc.Bootstrap(e.ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if token != "" {
		log.Info("created the bootstrap admin", "user_id", user.ID, "email", user.Email)
		printBootstrap(e.stdout, user, token)
	}

	handler := httpapi.NewServer(log, httpapi.Config{
		PublicURL: cfg.PublicURL,
		Proxies:   clientip.New(cfg.TrustedProxies),
	}, a.svc)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	log.Info("tokend listening", "addr", ln.Addr().String(), "database", a.store.Dialect(), "version", version)

	// Tokens' last uses are written in batches; the flusher stops after
	// the server, so that the uses of the last requests are written too.
	flushCtx, stopFlusher := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		a.svc.RunUsageFlusher(flushCtx, usageFlushInterval, func(err error) {
			log.Warn("write last token uses", "err", err)
		})
	}()
	defer func() {
		stopFlusher()
		<-flushed
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-e.ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// usageFlushInterval is how often tokens' last uses are written.
const usageFlushInterval = 5 * time.Second

func printBootstrap(w io.Writer, u apitoken.User, token string) {
	fmt.Fprintf(w, `
======================== tokend bootstrap admin token ========================
user:  %s (%s)
token: %s

This token holds every scope. It is shown once and never again: store it now.
==============================================================================

`, u.ID, u.Email, token)
}

func (e env) migrate(args []string) error {
	cfg, rest, err := e.parse("migrate", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{"migrate takes no arguments"}
	}
	log := e.logger(cfg)
	st, err := openStore(e.ctx, cfg.DatabaseURL, log, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(e.ctx)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "count", len(applied), "migrations", applied)
	return nil
}

// withApp runs a command that works on the database: it parses the flags
// (define adds the command's own), requires operands operands, assembles
// tokend and calls fn with the configuration, tokend and the operands.
func (e env) withApp(name string, args []string, operands int, define func(*flag.FlagSet),
	fn func(cfg *config.Config, a *app, rest []string) error) error {
	cfg, rest, err := e.parse(name, args, define)
	if err != nil {
		return err
	}
	if len(rest) != operands {
		if operands == 0 {
			return usageError{name + " takes no arguments"}
		}
		return usageError{fmt.Sprintf("%s takes %d argument(s), not %d", name, operands, len(rest))}
	}
	a, err := e.open(cfg, e.logger(cfg), 0)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(cfg, a, rest)
}

func (e env) usersCreate(args []string) error {
	var req apitoken.UserRequest
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&req.Email, "email", "", "the user's email (required)")
		fs.StringVar(&req.Role, "role", "", "admin or member (required)")
		fs.BoolVar(&req.Service, "service", false, "a non-interactive user, one that only uses the API")
		fs.Func("scopes", "space-separated scopes the user's tokens may carry (default: the catalog for the role)", func(s string) error {
			req.Scopes = &s
			return nil
		})
	}
	return e.withApp("users create", args, 0, define, func(_ *config.Config, a *app, _ []string) error {
		u, err := a.svc.AddUser(e.ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, u.ID)
		return nil
	})
}

func (e env) usersList(args []string) error {
	return e.withApp("users list", args, 0, nil, func(_ *config.Config, a *app, _ []string) error {
		users, _, err := a.store.Users.List(e.ctx, 1<<30, 0)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSERVICE\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%t\t%s\n", u.ID, u.Email, u.Role, u.Service, u.Disabled, apitoken.FormatTime(u.CreatedAt))
		}
		return tw.Flush()
	})
}

func (e env) usersSetDisabled(args []string, disabled bool) error {
	name := "users enable"
	if disabled {
		name = "users disable"
	}
	return e.withApp(name, args, 1, nil, func(_ *config.Config, a *app, rest []string) error {
		u, err := a.svc.SetUserDisabled(e.ctx, rest[0], disabled)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, u.ID)
		return nil
	})
}

func (e env) tokensCreate(args []string) error {
	var userID, expires string
	var req apitoken.TokenRequest
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&userID, "user", "", "id of the user the token is for (required)")
		fs.Func("scope", "space-separated scopes (required)", func(s string) error { req.Scope = &s; return nil })
		fs.Func("description", "what the token is for (required)", func(s string) error { req.Description = &s; return nil })
		fs.StringVar(&expires, "expires", "720h", "lifetime (720h, 30d) or expiration time (RFC 3339)")
		fs.Func("source-ip", "comma-separated addresses or CIDR ranges the token may be used from", func(s string) error {
			req.SourceIP = &s
			return nil
		})
	}
	return e.withApp("tokens create", args, 0, define, func(_ *config.Config, a *app, _ []string) error {
		if userID == "" {
			return usageError{"--user is required"}
		}
		exp := expires
		if d, err := config.ParseDuration(expires); err == nil {
			exp = time.Now().Add(d).UTC().Format(time.RFC3339Nano)
		} else if _, err := time.Parse(time.RFC3339Nano, expires); err != nil {
			return usageError{fmt.Sprintf("--expires %q is neither a duration (720h, 30d) nor an RFC 3339 time", expires)}
		}
		req.Expiration = &exp
		_, token, err := a.svc.IssueToken(e.ctx, userID, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}

func (e env) keysList(args []string) error {
	return e.withApp("keys list", args, 0, nil, func(_ *config.Config, a *app, _ []string) error {
		recs, err := a.ring.List(e.ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tSTATUS\tCREATED\tROTATED\tRETIRES")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.StatusAt(now), apitoken.FormatTime(r.CreatedAt),
				timeOrDash(r.RotatedAt), timeOrDash(firstTime(r.RetiredAt, r.RetireAt)))
		}
		return tw.Flush()
	})
}

func (e env) keysRotate(args []string) error {
	return e.withApp("keys rotate", args, 0, nil, func(cfg *config.Config, a *app, _ []string) error {
		rec, err := a.ring.Rotate(e.ctx, cfg.MaxTokenLifetime)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, rec.ID)
		return nil
	})
}

func (e env) keysRetire(args []string) error {
	return e.withApp("keys retire", args, 1, nil, func(_ *config.Config, a *app, rest []string) error {
		if err := a.ring.Retire(e.ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, rest[0])
		return nil
	})
}

// healthcheck asks the tokend listening on this machine at the configured
// address whether it is ready: a container healthcheck for images that have
// no shell or HTTP client of their own.
func (e env) healthcheck(args []string) error {
	cfg, rest, err := e.parse("healthcheck", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{"healthcheck takes no arguments"}
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return usageError{fmt.Sprintf("listen address %q: %v", cfg.Listen, err)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return apitoken.FormatTime(*t)
}

func firstTime(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

// cliError rewrites application errors for a terminal: one problem a line.
func cliError(err error) error {
	var list apitoken.Errors
	var one *apitoken.Error
	if err == nil || (!errors.As(err, &list) && !errors.As(err, &one)) {
		return err
	}
	lines := []string{}
	for _, e := range apitoken.ErrorList(err) {
		detail := e.Detail
		if e.Code == apitoken.Internal || e.Code == apitoken.Unavailable {
			detail = e.Error()
		}
		lines = append(lines, detail)
	}
	return errors.New(strings.Join(lines, "\n  "))
}
