// Command seed fills a tokend database with tokens fast, for benchmarks
// and trials at scale: N tokens of an existing user, of mixed statuses
// and expirations, written with COPY on PostgreSQL and in large
// transactions on SQLite (store.Tokens.BulkCreate).
//
//	go run ./scripts/seed --database-url URL --user ID --tokens 100000
//
// The database must be migrated and hold a signing key (start tokend once).
// The tokens are rows only: their token strings do not exist, so they can
// be listed, filtered, paged and revoked, not presented. Of every ten, seven
// are active, one disabled, one revoked and one expired; expirations and
// creation times spread over the past and next year.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("database-url", os.Getenv("TOKEND_DATABASE_URL"), "the database: postgres://… or sqlite:PATH (TOKEND_DATABASE_URL)")
	userID := fs.String("user", "", "id of the user the tokens are for (required)")
	n := fs.Int("tokens", 0, "how many tokens to add (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *userID == "" || *n <= 0 {
		return fmt.Errorf("--database-url, --user and a positive --tokens are required")
	}
	st, err := store.Open(ctx, *url)
	if err != nil {
		return err
	}
	defer st.Close()
	if pending, err := st.Pending(ctx); err != nil || len(pending) > 0 {
		return fmt.Errorf("the database is not migrated (%v): start tokend or run tokend migrate first", err)
	}
	if _, err := st.Users.Get(ctx, *userID); err != nil {
		return fmt.Errorf("user %s: %w", *userID, err)
	}
	key, err := st.Keys.ActiveKey(ctx)
	if err != nil {
		return fmt.Errorf("no active signing key (start tokend once): %w", err)
	}
	start := time.Now()
	if err := st.Tokens.BulkCreate(ctx, dbtest.MixedTokens(*userID, key.ID, *n, start)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %d tokens for %s in %s\n", *n, *userID, time.Since(start).Round(time.Millisecond))
	return nil
}
