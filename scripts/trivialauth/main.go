// Command trivialauth is the baseline for gateway load tests: an HTTP
// server that answers every request with 200 and no body, and does nothing
// else. scripts/load-gateway.sh puts it where tokend's /auth would be, so
// the gateway's throughput with tokend can be compared with the gateway's
// throughput with an authorization backend that costs nothing.
//
//	go run ./scripts/trivialauth -listen 127.0.0.1:9901
//
// It stops on SIGINT or SIGTERM and then reports, on standard error, how
// many connections it accepted and how many requests it answered, which
// shows whether the gateway kept its connections alive.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "trivialauth:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("trivialauth", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9901", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var conns, requests atomic.Int64
	srv := &http.Server{
		Addr: *listen,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.WriteHeader(http.StatusOK)
		}),
		// The same idle timeout as tokend's, so gateways see the same
		// keep-alive behaviour from both.
		IdleTimeout: 2 * time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	fmt.Fprintf(os.Stderr, "trivialauth: %d connections accepted, %d requests answered\n", conns.Load(), requests.Load())
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
