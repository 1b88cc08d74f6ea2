// Command downstream is an example API that accepts tokend tokens: GET
// /customers needs the customers scope and POST /payments needs
// payments-write. It verifies tokens offline with package verifier and keeps
// revocations in sync with tokend, so it calls tokend only to sync.
//
// Run it next to a tokend:
//
//	export TOKEND_URL=http://localhost:8080
//	export TOKEND_FEED_TOKEN=$(tokend tokens create --user $ADMIN --scope introspect --description "downstream feed")
//	go run ./examples/downstream
//
// Settings: LISTEN (default :9090), TOKEND_URL, TOKEND_FEED_TOKEN,
// SYNC_INTERVAL (default 5s), TRUSTED_PROXIES (comma-separated).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokend/tokend/pkg/clientip"
	"github.com/tokend/tokend/pkg/verifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "downstream:", err)
		os.Exit(1)
	}
}

// run serves the example API until ctx ends. ready, when not nil, receives
// the listening address.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	interval := 5 * time.Second
	if s := getenv("SYNC_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("SYNC_INTERVAL: %w", err)
		}
		interval = d
	}
	proxies, err := clientip.ParsePrefixes(getenv("TRUSTED_PROXIES"))
	if err != nil {
		return err
	}
	v, err := verifier.New(verifier.Config{
		TokendURL:      getenv("TOKEND_URL"),
		FeedToken:      getenv("TOKEND_FEED_TOKEN"),
		SyncInterval:   interval,
		TrustedProxies: proxies,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	if err := v.Sync(ctx); err != nil {
		return fmt.Errorf("first sync with tokend: %w", err)
	}
	go v.Run(ctx)

	addr := getenv("LISTEN")
	if addr == "" {
		addr = ":9090"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(v), ReadHeaderTimeout: 5 * time.Second}
	log.Info("downstream listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHandler routes the example API, each route behind the scope it needs.
func newHandler(v *verifier.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /customers", v.RequireScopes("customers")(http.HandlerFunc(listCustomers)))
	mux.Handle("POST /payments", v.RequireScopes("payments-write")(http.HandlerFunc(createPayment)))
	return mux
}

func listCustomers(w http.ResponseWriter, r *http.Request) {
	c, _ := verifier.FromContext(r.Context())
	reply(w, http.StatusOK, map[string]any{
		"data": []any{},
		"meta": map[string]any{"requestedBy": c.Subject, "token": c.ID},
	})
}

func createPayment(w http.ResponseWriter, r *http.Request) {
	c, _ := verifier.FromContext(r.Context())
	reply(w, http.StatusCreated, map[string]any{
		"data": map[string]any{"type": "payment", "id": "1", "attributes": map[string]any{"createdBy": c.Subject}},
	})
}

func reply(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", "application/vnd.api+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(doc)
}
