package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/pkg/client"
)

// The remote commands act over a tokend's API (pkg/client) instead of on
// its database: with --server URL, or TOKEND_SERVER, and the token in
// TOKEND_TOKEN (never a flag, so that it never shows in ps).
var remoteCommands = map[string]func(e env, r *remoteRun) error{
	"tokens list":   tokensListRemote,
	"tokens get":    tokensGetRemote,
	"tokens revoke": tokensRevokeRemote,
	"tokens create": tokensCreateRemote,
	"tokens rotate": tokensRotateRemote,
	"users list":    usersListRemote,
	"users create":  usersCreateRemote,
	"users get":     usersGetRemote,
	"users update":  usersUpdateRemote,
	"users disable": func(e env, r *remoteRun) error { return usersSetDisabledRemote(e, r, true) },
	"users enable":  func(e env, r *remoteRun) error { return usersSetDisabledRemote(e, r, false) },
}

// wantsRemote reports whether a command's arguments or environment name a
// server to act through.
func wantsRemote(args []string, getenv func(string) string) bool {
	if getenv("TOKEND_SERVER") != "" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "server" {
			return true
		}
	}
	return false
}

// remoteRun is one remote command being run: its flags, its operands
// once parsed, and the client.
type remoteRun struct {
	name   string
	fs     *flag.FlagSet
	server *string
	output string
	args   []string
	c      *client.Client
}

// runRemote runs a remote command; the command defines its own flags,
// then parses them with the common ones.
func (e env) runRemote(name string, args []string, fn func(env, *remoteRun) error) error {
	r := &remoteRun{name: name, fs: flag.NewFlagSet("tokend "+name, flag.ContinueOnError)}
	r.fs.SetOutput(e.stderr)
	r.server = r.fs.String("server", e.getenv("TOKEND_SERVER"), "URL of the tokend to act through (TOKEND_SERVER); the token is TOKEND_TOKEN's")
	r.fs.StringVar(&r.output, "output", "table", "table or json")
	r.args = args
	return fn(e, r)
}

// parse parses the flags defined so far, before and after the operands,
// and checks the operands: as many as operands, or, when negative, any
// number, which the command checks.
func (r *remoteRun) parse(e env, operands int) error {
	var got []string
	for args := r.args; ; {
		if err := r.fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return errHelp
			}
			return usageError{err.Error()}
		}
		if args = r.fs.Args(); len(args) == 0 {
			break
		}
		if args[0] == "--" {
			got = append(got, args[1:]...)
			break
		}
		got, args = append(got, args[0]), args[1:]
	}
	if r.output != "table" && r.output != "json" {
		return usageError{fmt.Sprintf("--output must be table or json, not %q", r.output)}
	}
	if operands >= 0 && len(got) != operands {
		return usageError{fmt.Sprintf("%s takes %d argument(s), not %d", r.name, operands, len(got))}
	}
	token := e.getenv("TOKEND_TOKEN")
	if token == "" {
		return usageError{"set TOKEND_TOKEN to the token to act with"}
	}
	r.args = got
	r.c = client.New(*r.server, token)
	return nil
}

// print writes v as JSON, or as the table rows gives.
func (r *remoteRun) print(e env, v any, header string, rows func(row func(cells ...any))) error {
	if r.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(func(cells ...any) {
		s := make([]string, len(cells))
		for i, c := range cells {
			switch c := c.(type) {
			case time.Time:
				s[i] = c.UTC().Format(time.RFC3339)
			default:
				s[i] = fmt.Sprint(c)
			}
		}
		fmt.Fprintln(tw, strings.Join(s, "\t"))
	})
	return tw.Flush()
}

// printCreated writes what a create made: as JSON, or the one value the
// local command prints too (the token, the user's id), alone on a line.
func (r *remoteRun) printCreated(e env, v any, value string) error {
	if r.output == "json" {
		return r.print(e, v, "", nil)
	}
	_, err := fmt.Fprintln(e.stdout, value)
	return err
}

const tokenHeader = "ID\tSTATUS\tEXPIRATION\tSCOPE\tDESCRIPTION"

func printTokens(e env, r *remoteRun, v any, toks []client.Token) error {
	return r.print(e, v, tokenHeader, func(row func(...any)) {
		for _, t := range toks {
			row(t.ID, t.Status, t.Expiration, t.Scope, t.Description)
		}
	})
}

func tokensListRemote(e env, r *remoteRun) error {
	user := r.fs.String("user", "", "id of the user whose tokens to list (required)")
	status := r.fs.String("status", "", "comma-separated statuses; default every one but revoked")
	limit := r.fs.Int("limit", 100, "most tokens to list")
	if err := r.parse(e, 0); err != nil {
		return err
	}
	if *user == "" {
		return usageError{"--user is required"}
	}
	f := client.TokenFilter{Page: client.Page{Limit: *limit}}
	if *status != "" {
		f.Statuses = strings.Split(*status, ",")
	}
	toks, _, err := r.c.ListTokens(e.ctx, *user, f)
	if err != nil {
		return err
	}
	return printTokens(e, r, toks, toks)
}

// oneTokenRemote runs a command on one token, given by --user and its id,
// and prints the token it answers with.
func oneTokenRemote(e env, r *remoteRun, call func(user, id string) (client.Token, error)) error {
	user, id, err := tokenOperand(e, r)
	if err != nil {
		return err
	}
	t, err := call(user, id)
	if err != nil {
		return err
	}
	return printTokens(e, r, t, []client.Token{t})
}

// tokenOperand parses the flags of a command on one token, --user among
// them, and returns the user's id and the token's.
func tokenOperand(e env, r *remoteRun) (user, id string, err error) {
	u := r.fs.String("user", "", "id of the token's user (required)")
	if err := r.parse(e, 1); err != nil {
		return "", "", err
	}
	if *u == "" {
		return "", "", usageError{"--user is required"}
	}
	return *u, r.args[0], nil
}

func tokensGetRemote(e env, r *remoteRun) error {
	return oneTokenRemote(e, r, func(user, id string) (client.Token, error) { return r.c.GetToken(e.ctx, user, id) })
}

func tokensRevokeRemote(e env, r *remoteRun) error {
	user := r.fs.String("user", "", "id of the token's user (required)")
	all := r.fs.Bool("all", false, "revoke every token of the user that works or could again, instead of one")
	if err := r.parse(e, -1); err != nil {
		return err
	}
	if err := revokeOperands(*user, *all, r.args); err != nil {
		return err
	}
	if !*all {
		t, err := r.c.RevokeToken(e.ctx, *user, r.args[0])
		if err != nil {
			return err
		}
		return printTokens(e, r, t, []client.Token{t})
	}
	n, err := r.c.RevokeAllTokens(e.ctx, *user)
	if err != nil {
		return err
	}
	return r.printCreated(e, map[string]int{"revoked": n}, strconv.Itoa(n))
}

func tokensRotateRemote(e env, r *remoteRun) error {
	var rot rotationFlags
	rot.define(r.fs)
	user, id, err := tokenOperand(e, r)
	if err != nil {
		return err
	}
	exp, prev, err := rot.times()
	if err != nil {
		return err
	}
	t, err := r.c.RotateToken(e.ctx, user, id, client.TokenRotation{
		Expiration: exp, PreviousExpiration: prev, RetirePreviousOnFirstUse: rot.retireOnFirstUse})
	if err != nil {
		return err
	}
	return r.printCreated(e, t, t.Token)
}

func tokensCreateRemote(e env, r *remoteRun) error {
	var req client.TokenRequest
	user := r.fs.String("user", "", "id of the user the token is for (required)")
	r.fs.StringVar(&req.Scope, "scope", "", "space-separated scopes (required)")
	r.fs.StringVar(&req.Description, "description", "", "what the token is for (required)")
	expires := r.fs.String("expires", "720h", "lifetime (720h, 30d) or expiration time (RFC 3339)")
	r.fs.StringVar(&req.SourceIP, "source-ip", "", "addresses or CIDR ranges the token may be used from")
	if err := r.parse(e, 0); err != nil {
		return err
	}
	if *user == "" {
		return usageError{"--user is required"}
	}
	var err error
	if req.Expiration, err = parseExpires(*expires); err != nil {
		return err
	}
	t, err := r.c.CreateToken(e.ctx, *user, req)
	if err != nil {
		return err
	}
	return r.printCreated(e, t, t.Token)
}

const userHeader = "ID\tEMAIL\tROLE\tSERVICE\tDISABLED\tCREATED"

func printUsers(e env, r *remoteRun, v any, users []client.User) error {
	return r.print(e, v, userHeader, func(row func(...any)) {
		for _, u := range users {
			row(u.ID, u.Email, u.Role, u.Service, u.Disabled, u.CreatedAt)
		}
	})
}

func usersListRemote(e env, r *remoteRun) error {
	limit := r.fs.Int("limit", 100, "most users to list")
	if err := r.parse(e, 0); err != nil {
		return err
	}
	users, _, err := r.c.ListUsers(e.ctx, client.Page{Limit: *limit})
	if err != nil {
		return err
	}
	return printUsers(e, r, users, users)
}

func usersCreateRemote(e env, r *remoteRun) error {
	var req client.UserRequest
	r.fs.StringVar(&req.Email, "email", "", "the user's email (required)")
	r.fs.StringVar(&req.Role, "role", "member", "admin or member")
	r.fs.BoolVar(&req.Service, "service", false, "a service account, for automation")
	r.fs.Func("scopes", "space-separated scopes the user may hold; default: the role's", func(s string) error { req.Scopes = &s; return nil })
	if err := r.parse(e, 0); err != nil {
		return err
	}
	u, err := r.c.CreateUser(e.ctx, req)
	if err != nil {
		return err
	}
	return r.printCreated(e, u, u.ID)
}

func usersGetRemote(e env, r *remoteRun) error {
	if err := r.parse(e, 1); err != nil {
		return err
	}
	u, err := r.c.GetUser(e.ctx, r.args[0])
	if err != nil {
		return err
	}
	return printUsers(e, r, u, []client.User{u})
}

func usersUpdateRemote(e env, r *remoteRun) error {
	var u client.UserUpdate
	r.fs.Func("role", "admin or member", func(s string) error { u.Role = &s; return nil })
	r.fs.Func("scopes", "space-separated scopes the user may hold", func(s string) error { u.Scopes = &s; return nil })
	boolFlag := func(name, usage string, dst **bool) {
		r.fs.Func(name, usage+" (true or false)", func(s string) error {
			b, err := strconv.ParseBool(s)
			*dst = &b
			return err
		})
	}
	boolFlag("service", "whether the user is a service account", &u.Service)
	boolFlag("disabled", "whether the user is disabled", &u.Disabled)
	if err := r.parse(e, 1); err != nil {
		return err
	}
	got, err := r.c.UpdateUser(e.ctx, r.args[0], u)
	if err != nil {
		return err
	}
	return printUsers(e, r, got, []client.User{got})
}

func usersSetDisabledRemote(e env, r *remoteRun, disabled bool) error {
	if err := r.parse(e, 1); err != nil {
		return err
	}
	got, err := r.c.UpdateUser(e.ctx, r.args[0], client.UserUpdate{Disabled: &disabled})
	if err != nil {
		return err
	}
	return printUsers(e, r, got, []client.User{got})
}
