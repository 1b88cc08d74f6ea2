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

// parseExpires reads --expires: a lifetime from now (720h, 30d) or an RFC
// 3339 time.
func parseExpires(s string) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil {
		return time.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Sprintf("--expires %q is neither a duration (720h, 30d) nor an RFC 3339 time", s)}
	}
	return t, nil
}
