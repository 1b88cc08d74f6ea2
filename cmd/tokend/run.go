package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/client"
	"github.com/tokend/tokend/pkg/errcode"
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
  tokens rotate --user ID [--expires 720h] [--previous-expires 1h] [--retire-on-first-use] TOKENID
                             replace a token with a new one and print it
  tokens revoke --user ID TOKENID | --user ID --all
                             revoke a token (print its id) or all of a user's (print how many)
  keys list                  list signing keys
  keys rotate                make a new signing key active
  keys retire KID            stop a retiring key from verifying anything
  audit verify               check the audit log's chain of hashes; fails naming
                             the first event changed, deleted or reordered
  healthcheck                exit 0 if the tokend at --listen is ready (for containers)
  version                    print the version

Over a running tokend's API, with --server URL (or TOKEND_SERVER) and the
token in TOKEND_TOKEN, no database needed; --output table|json:
  tokens list --user ID [--status S,S] | get --user ID TOKENID | revoke --user ID TOKENID|--all
  tokens create --user ID --scope "…" --description D [--expires 720h]
  tokens rotate --user ID [--expires 720h] [--previous-expires 1h] [--retire-on-first-use] TOKENID
  users create --email E [--role R] [--service] [--scopes "…"] | list | get ID
  users update ID [--role R] [--scopes "…"] [--service B] [--disabled B]
  users disable ID | enable ID

Run "tokend serve -h" for the configuration flags every command takes.
`

// groupUsage returns the lines of usage about the group's commands.
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: tokend %s <command> [flags]\n\nCommands:\n", group)
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+group+" "):
			in = true
		case !strings.HasPrefix(line, "     "):
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("\nRun \"tokend serve -h\" for the configuration flags every command takes.\n")
	return b.String()
}

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
	cmd, rest := args[0], args[1:]
	if cmd != "serve" {
		// The changes of local commands are recorded as the command
		// line's, with the operating system's user.
		ctx = audit.WithActor(ctx, audit.Actor{UserAgent: cliAgent(getenv)})
	}
	e := env{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr}
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	if fn, ok := remoteCommands[cmd+" "+sub]; ok && wantsRemote(rest[1:], getenv) {
		return e.runRemote(cmd+" "+sub, rest[1:], fn)
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
	case cmd == "tokens" && sub == "rotate":
		return e.tokensRotate(rest[1:])
	case cmd == "tokens" && sub == "revoke":
		return e.tokensRevoke(rest[1:])
	case cmd == "keys" && sub == "list":
		return e.keysList(rest[1:])
	case cmd == "keys" && sub == "rotate":
		return e.keysRotate(rest[1:])
	case cmd == "keys" && sub == "retire":
		return e.keysRetire(rest[1:])
	case cmd == "audit" && sub == "verify":
		return e.auditVerify(rest[1:])
	case cmd == "healthcheck":
		return e.healthcheck(rest)
	case cmd == "version" || cmd == "--version" || cmd == "-version":
		fmt.Fprintln(stdout, "tokend", version)
		return nil
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case (cmd == "users" || cmd == "tokens" || cmd == "keys" || cmd == "audit") && (sub == "" || sub == "help" || sub == "-h" || sub == "--help"):
		if sub == "" {
			fmt.Fprint(stderr, groupUsage(cmd))
			return usageError{fmt.Sprintf("%q needs a command", cmd)}
		}
		fmt.Fprint(stdout, groupUsage(cmd))
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))}
}

// cliAgent is the user agent of the changes local commands make.
func cliAgent(getenv func(string) string) string {
	agent := "tokend-cli/" + version
	if u := getenv("USER"); u != "" {
		agent += " (user " + u + ")"
	}
	return agent
}

// env is what every command runs with.
type env struct {
	ctx            context.Context
	getenv         func(string) string
	stdout, stderr io.Writer
}

// parse parses a command's flags: the configuration flags, and those
// define adds. It returns the configuration and the arguments left over.
//
// Its -h lists the command's own flags; serve's lists the configuration
// flags, which every command takes.
func (e env) parse(name string, args []string, define func(*flag.FlagSet)) (*config.Config, []string, error) {
	fs := flag.NewFlagSet("tokend "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := config.Register(fs, e.getenv)
	own := flag.NewFlagSet("tokend "+name, flag.ContinueOnError)
	own.SetOutput(e.stderr)
	if define != nil {
		define(own)
		own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: tokend %s [flags]\n", name)
		if name == "serve" {
			fs.PrintDefaults()
			return
		}
		own.PrintDefaults()
		fmt.Fprintln(e.stderr, "\nThe configuration flags apply too: tokend serve -h lists them.")
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

// logger returns the log of a command that runs and exits: plain lines on
// stderr, for a person at a terminal (serve logs in TOKEND_LOG_FORMAT).
func (e env) logger(cfg *config.Config) *slog.Logger {
	return logging.NewPlain(e.stderr, cfg.LogLevel)
}

// serve runs the HTTP API until ctx ends, then shuts down gracefully. It
// listens before anything else, so that a bad address fails the start
// before the first start's bootstrap token is made.
func (e env) serve(args []string) error {
	cfg, rest, err := e.parse("serve", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{"serve takes no arguments"}
	}
	// A server's log is buffered: a request's line costs a copy, not a
	// write to the terminal or the pipe.
	log, logs := logging.NewBuffered(e.stderr, cfg.LogFormat, cfg.LogLevel)
	defer logs.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	a, err := e.open(cfg, log, 60*time.Second)
	if err != nil {
		return err
	}
	defer a.Close()

	user, token, err := a.Service.Bootstrap(e.ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if token != "" {
		log.Info("created the bootstrap admin", "user_id", user.ID, "email", user.Email)
		if err := e.handOver(cfg, log, user, token); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	log.Info("tokend listening", "addr", ln.Addr().String(), "database", a.Store.Dialect(), "version", version)
	return a.Serve(e.ctx, ln)
}

// open assembles tokend for a command that may change the database: it
// resolves the secret (generating one on first use), and opens, migrates
// and loads everything.
func (e env) open(cfg *config.Config, log *slog.Logger, wait time.Duration) (*app.App, error) {
	secret, err := cfg.Secret(e.getenv, log.Warn)
	if err != nil {
		return nil, err
	}
	return app.Open(e.ctx, cfg, app.Options{Secret: secret, Log: log, Wait: wait})
}

// handOver gives the operator the bootstrap token, once: on a terminal it is
// printed; otherwise, as in a container whose output goes to a log
// collector, it is written to a file only its owner can read, and the log
// names the file.
func (e env) handOver(cfg *config.Config, log *slog.Logger, u apitoken.User, token string) error {
	if f, ok := e.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		printBootstrap(e.stdout, u, token)
		return nil
	}
	path := cfg.BootstrapTokenFile
	if err := writeSecretFile(path, token+"\n"); err != nil {
		return fmt.Errorf("write the bootstrap admin token: %w", err)
	}
	log.Warn("wrote the bootstrap admin token to a file: it holds every scope; read it, store it safely, then delete the file",
		"path", path, "user_id", u.ID)
	return nil
}

// writeSecretFile writes content to a new file at path that only its owner
// may read, replacing any file there.
func writeSecretFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

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
	st, err := app.OpenStore(e.ctx, cfg.DatabaseURL, log, 0)
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

// withApp runs a command that changes the database: it parses the flags
// (define adds the command's own), requires operands operands (any number
// when negative), assembles tokend and calls fn with the configuration,
// tokend and the operands.
func (e env) withApp(name string, args []string, operands int, define func(*flag.FlagSet),
	fn func(cfg *config.Config, a *app.App, rest []string) error) error {
	cfg, rest, err := e.parseOperands(name, args, operands, define)
	if err != nil {
		return err
	}
	a, err := e.open(cfg, e.logger(cfg), 0)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(cfg, a, rest)
}

// withStore runs a command that only reads: it opens a database that must
// exist and be migrated already, and creates nothing, neither a database
// nor a secret nor a signing key.
func (e env) withStore(name string, args []string, fn func(st *store.Store) error) error {
	cfg, _, err := e.parseOperands(name, args, 0, nil)
	if err != nil {
		return err
	}
	if path, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite:"); ok {
		if _, err := os.Stat(strings.TrimPrefix(path, "//")); err != nil {
			return fmt.Errorf("no database at %s: start tokend serve, or run tokend migrate, first", path)
		}
	}
	st, err := app.OpenStore(e.ctx, cfg.DatabaseURL, e.logger(cfg), 0)
	if err != nil {
		return err
	}
	defer st.Close()
	pending, err := st.Pending(e.ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database lacks %d migration(s): run tokend migrate first", len(pending))
	}
	return fn(st)
}

// parseOperands parses a command's flags and checks it got operands
// arguments; a negative operands leaves them to the command to check.
func (e env) parseOperands(name string, args []string, operands int, define func(*flag.FlagSet)) (*config.Config, []string, error) {
	cfg, rest, err := e.parse(name, args, define)
	if err != nil {
		return nil, nil, err
	}
	if operands >= 0 && len(rest) != operands {
		if operands == 0 {
			return nil, nil, usageError{name + " takes no arguments"}
		}
		return nil, nil, usageError{fmt.Sprintf("%s takes %d argument(s), not %d", name, operands, len(rest))}
	}
	return cfg, rest, nil
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

// failure is a command's error as the terminal shows it: one problem a
// line, with the exit status of its error code.
type failure struct {
	msg  string
	exit int
}

func (f failure) Error() string { return f.msg }

// ExitCode returns the exit status of the failure.
func (f failure) ExitCode() int { return f.exit }

// cliError rewrites application errors for a terminal: one problem a line,
// and the exit status of the first problem's code, from errcode's table.
func cliError(err error) error {
	var remote *client.Error
	if errors.As(err, &remote) {
		return failure{msg: strings.TrimPrefix(remote.Error(), "tokend: "), exit: remote.Code().Exit()}
	}
	var list apitoken.Errors
	var one *apitoken.Error
	if err == nil || (!errors.As(err, &list) && !errors.As(err, &one)) {
		return err
	}
	errs := apitoken.ErrorList(err)
	lines := []string{}
	for _, e := range errs {
		detail := e.Detail
		if e.Code == apitoken.Internal || e.Code == apitoken.Unavailable {
			detail = e.Error()
		}
		lines = append(lines, detail)
	}
	return failure{msg: strings.Join(lines, "\n  "), exit: errcode.Code(errs[0].Code).Exit()}
}
