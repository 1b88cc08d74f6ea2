package main

import (
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/store"
)

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
	return e.withApp("users create", args, 0, define, func(_ *config.Config, a *app.App, _ []string) error {
		u, err := a.Service.AddUser(e.ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, u.ID)
		return nil
	})
}

func (e env) usersList(args []string) error {
	return e.withStore("users list", args, func(st *store.Store) error {
		users, _, err := st.Users.List(e.ctx, 1<<30, 0)
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
	return e.withApp(name, args, 1, nil, func(_ *config.Config, a *app.App, rest []string) error {
		u, err := a.Service.SetUserDisabled(e.ctx, rest[0], disabled)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, u.ID)
		return nil
	})
}
