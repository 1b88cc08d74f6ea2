// Command tokend issues, lists, updates and revokes per-user organisation API
// tokens (PASETO v2.public) over a JSON:API HTTP interface, and lets
// downstream APIs verify them.
//
// Usage:
//
//	tokend serve                    # run the API (applies migrations first)
//	tokend migrate                  # apply migrations and exit
//	tokend users create --email E --role admin|member [--service] [--scopes "…"]
//	tokend users disable|enable ID
//	tokend tokens create --user ID --scope "…" --expires 720h --description D [--source-ip …]
//	tokend keys list | rotate | retire KID
//	tokend healthcheck              # exit 0 if the local tokend is ready
//	tokend version
//
// Every command takes the configuration flags listed by "tokend serve -h";
// each has a TOKEND_* environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokend/tokend/pkg/errcode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tokend:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status of a command that failed with err: 2 for a
// command line that cannot be run, the code's status from errcode's table
// for an application error, and 1 for anything else.
func exitCode(err error) int {
	var u usageError
	var f failure
	switch {
	case errors.As(err, &u):
		return errcode.ExitUsage
	case errors.As(err, &f):
		return f.ExitCode()
	}
	return 1
}
