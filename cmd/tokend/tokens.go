package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/config"
)

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
	return e.withApp("tokens create", args, 0, define, func(_ *config.Config, a *app.App, _ []string) error {
		if userID == "" {
			return usageError{"--user is required"}
		}
		t, err := parseExpires(expires)
		if err != nil {
			return err
		}
		exp := t.UTC().Format(time.RFC3339Nano)
		req.Expiration = &exp
		_, token, err := a.Service.IssueToken(e.ctx, userID, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}

func (e env) tokensRotate(args []string) error {
	var userID string
	var rot rotationFlags
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&userID, "user", "", "id of the token's user (required)")
		rot.define(fs)
	}
	return e.withApp("tokens rotate", args, 1, define, func(_ *config.Config, a *app.App, rest []string) error {
		if userID == "" {
			return usageError{"--user is required"}
		}
		req, err := rot.request()
		if err != nil {
			return err
		}
		_, token, err := a.Service.RotateTokenDirectly(e.ctx, userID, rest[0], req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}

// rotationFlags are the flags of tokens rotate, local or remote.
type rotationFlags struct {
	expires, previousExpires string
	retireOnFirstUse         bool
}

func (r *rotationFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&r.expires, "expires", "", "the new token's lifetime (720h, 30d) or expiration (RFC 3339); default: the old token's lifetime")
	fs.StringVar(&r.previousExpires, "previous-expires", "", "how long the old token keeps working (1h, 7d at most) or until when (RFC 3339); default: it stops at once")
	fs.BoolVar(&r.retireOnFirstUse, "retire-on-first-use", false, "retire the old token at the new one's first successful use, if sooner")
}

// times returns the expirations the flags give; zero for those not set.
func (r *rotationFlags) times() (expiration, previous time.Time, err error) {
	if r.expires != "" {
		if expiration, err = parseTime("--expires", r.expires); err != nil {
			return
		}
	}
	if r.previousExpires != "" {
		previous, err = parseTime("--previous-expires", r.previousExpires)
	}
	return
}

// request returns the rotation the flags ask for.
func (r *rotationFlags) request() (apitoken.RotationRequest, error) {
	exp, prev, err := r.times()
	if err != nil {
		return apitoken.RotationRequest{}, err
	}
	req := apitoken.RotationRequest{RetirePreviousOnFirstUse: &r.retireOnFirstUse}
	if !exp.IsZero() {
		s := exp.UTC().Format(time.RFC3339Nano)
		req.Expiration = &s
	}
	if !prev.IsZero() {
		s := prev.UTC().Format(time.RFC3339Nano)
		req.PreviousExpiration = &s
	}
	return req, nil
}

func (e env) tokensRevoke(args []string) error {
	var userID string
	var all bool
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&userID, "user", "", "id of the token's user (required)")
		fs.BoolVar(&all, "all", false, "revoke every token of the user that works or could again, instead of one")
	}
	return e.withApp("tokens revoke", args, -1, define, func(_ *config.Config, a *app.App, rest []string) error {
		if err := revokeOperands(userID, all, rest); err != nil {
			return err
		}
		if all {
			n, err := a.Service.RevokeAllTokensDirectly(e.ctx, userID)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, n)
			return nil
		}
		t, err := a.Service.RevokeTokenDirectly(e.ctx, userID, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, t.ID)
		return nil
	})
}

// revokeOperands checks the operands of tokens revoke: --user, and either
// a token id or --all.
func revokeOperands(userID string, all bool, operands []string) error {
	switch {
	case userID == "":
		return usageError{"--user is required"}
	case all && len(operands) > 0:
		return usageError{"give a token id or --all, not both"}
	case !all && len(operands) != 1:
		return usageError{"give the id of the token to revoke, or --all"}
	}
	return nil
}

// parseExpires reads --expires: a lifetime from now (720h, 30d) or an RFC
// 3339 time.
func parseExpires(s string) (time.Time, error) { return parseTime("--expires", s) }

// parseTime reads a time flag: a duration from now (720h, 30d) or an RFC
// 3339 time.
func parseTime(name, s string) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil {
		return time.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Sprintf("%s %q is neither a duration (720h, 30d) nor an RFC 3339 time", name, s)}
	}
	return t, nil
}
