// Command crashtest checks tokend's promise that nothing acknowledged is
// lost and nothing unacknowledged is left half done, through crashes of the
// server or a failover of its database.
//
// It starts a real tokend (the binary -tokend names), creates a user per
// client, and runs -clients clients that create tokens and revoke tokens
// they created, through the HTTP API, keeping a ledger in memory of every
// change the server acknowledged (201, 200) and of every request whose
// answer was lost. Meanwhile it disrupts the service:
//
//   - by default it kills the server with SIGKILL -kills times, at random
//     moments about -every apart, and starts it again on the same address;
//   - with -disrupt CMD it runs CMD once, -every after the load starts,
//     and never restarts tokend: the failover test stops the PostgreSQL
//     primary and promotes its standby this way, and tokend must recover
//     on its own.
//
// Then it stops the load and checks, through the API, that every
// acknowledged creation is present and every acknowledged revocation
// holds; that a request whose answer was lost either did all it does or
// nothing (a token is present and counted in every total, or absent); that
// the lists' totals equal the tokens listed; and that every live token
// authenticates at /auth and every revoked one is refused. It prints the
// counts, and exits 1 on any loss.
//
//	go build -o /tmp/tokend ./cmd/tokend
//	go run ./scripts/crashtest -tokend /tmp/tokend                        # SQLite
//	go run ./scripts/crashtest -tokend /tmp/tokend -database 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// scripts/crash-test.sh and scripts/failover-test.sh run it as the
// repository's reliability checks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	tokend   string
	database string
	fresh    bool
	clients  int
	kills    int
	every    time.Duration
	disrupt  string
	settle   time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("crashtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.tokend, "tokend", "", "the tokend binary to run (required)")
	fs.StringVar(&c.database, "database", "sqlite",
		"sqlite for a file of its own, or a postgres:// URL")
	fs.BoolVar(&c.fresh, "fresh", true,
		"on PostgreSQL, create a database of its own beside the one the URL names, dropped at the end; false uses the URL's database as it is")
	fs.IntVar(&c.clients, "clients", 50, "concurrent clients")
	fs.IntVar(&c.kills, "kills", 10, "times the server is killed with SIGKILL and started again")
	fs.DurationVar(&c.every, "every", 2*time.Second, "mean time between disruptions")
	fs.StringVar(&c.disrupt, "disrupt", "",
		"a shell command run once instead of the kills (the server is never restarted): the failover")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "load kept running after the last disruption")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.tokend == "" || c.clients <= 0 || c.kills < 0 || c.every <= 0 {
		return errors.New("-tokend, a positive -clients and -every, and -kills ≥ 0 are required")
	}

	work, err := os.MkdirTemp("", "tokend-crashtest-")
	if err != nil {
		return err
	}
	// On a failure tokend's log stays, for whoever looks into it.
	failed := true
	defer func() {
		if failed {
			fmt.Fprintf(stderr, "crashtest: tokend's output is in %s\n", filepath.Join(work, "tokend.log"))
			return
		}
		os.RemoveAll(work)
	}()
	url, drop, err := database(ctx, c, work)
	if err != nil {
		return err
	}
	defer drop()

	srv, err := newServer(c.tokend, url, work)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.start(ctx); err != nil {
		return err
	}
	r, err := test(ctx, c, srv)
	if err != nil {
		srv.printLog(stderr, 40)
		return err
	}
	r.print(stdout)
	if failed = r.failed(); failed {
		srv.printLog(stderr, 40)
		return fmt.Errorf("%d lost, %d half done, %d wrong answers, %d changes acknowledged after the last disruption",
			r.lost, r.halfDone, r.wrong, r.recovered)
	}
	return nil
}

// test runs the load and the disruptions, then checks the ledger.
func test(ctx context.Context, c config, srv *server) (*report, error) {
	l, err := newLoad(ctx, srv.base, srv.adminToken, c.clients)
	if err != nil {
		return nil, err
	}
	done := l.start(ctx)
	start := time.Now()
	var r report
	if c.disrupt != "" {
		if err := wait(ctx, c.every); err != nil {
			return nil, err
		}
		began := time.Now()
		if err := shell(ctx, c.disrupt, srv.log); err != nil {
			l.stop(done)
			return nil, fmt.Errorf("-disrupt: %w", err)
		}
		r.disruptions, r.commandTook = 1, time.Since(began)
	} else {
		for i := 0; i < c.kills; i++ {
			if err := wait(ctx, jitter(c.every)); err != nil {
				return nil, err
			}
			if err := srv.kill(); err != nil {
				return nil, err
			}
			if err := srv.start(ctx); err != nil {
				return nil, err
			}
			r.disruptions++
		}
	}
	lastDisruption := time.Now()
	if err := wait(ctx, c.settle); err != nil {
		return nil, err
	}
	l.stop(done)
	// Requests the clients gave up on at the end may still be finishing in
	// tokend (a creation taken into a batch commits after its caller left,
	// and would change the lists between their reading and their totals'):
	// a graceful restart lets them end, so that the check reads a state at
	// rest.
	if err := srv.restart(ctx); err != nil {
		return nil, err
	}
	r.ops = l.ledger.stats()
	r.downtime = l.longestOutage(start)
	r.recovered = l.successesSince(lastDisruption)
	if err := check(ctx, l, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// wait sleeps for d, or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
