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
		exp := expires
		if d, err := config.ParseDuration(expires); err == nil {
			exp = time.Now().Add(d).UTC().Format(time.RFC3339Nano)
		} else if _, err := time.Parse(time.RFC3339Nano, expires); err != nil {
			return usageError{fmt.Sprintf("--expires %q is neither a duration (720h, 30d) nor an RFC 3339 time", expires)}
		}
		req.Expiration = &exp
		_, token, err := a.Service.IssueToken(e.ctx, userID, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}
