// Package app assembles tokend from its parts (the store, the signing keys,
// the service and the HTTP API) and runs it. The command line and the tests
// build tokend through it, so that both run the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/expiry"
	"github.com/tokend/tokend/internal/httpapi"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/outbox"
	"github.com/tokend/tokend/internal/replica"
	"github.com/tokend/tokend/internal/secretscan"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/webhook"
	"github.com/tokend/tokend/pkg/clientip"
	"github.com/tokend/tokend/schema"
)

// Options are what Open needs beyond the configuration.
type Options struct {
	// Secret seals the signing keys, as config.Config.Secret resolves it.
	Secret string
	// Log receives the logs; nil discards them.
	Log *slog.Logger
	// Wait is how long Open retries a database that cannot be reached,
	// so that tokend and its database may start together.
	Wait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is tokend assembled: the migrated store, the key ring, the service and
// the HTTP handler over them.
type App struct {
	Store   *store.Store
	Ring    *keys.Ring
	State   *replica.State
	Service *service.Service
	Handler *httpapi.Server
	// Outbox delivers audit events to webhooks; Notices gives notice of
	// expiring tokens. Serve runs both.
	Outbox  *outbox.Outbox
	Notices *expiry.Notifier

	cfg *config.Config
	log *slog.Logger
	// refusals counts refused authentications between two flushes to
	// the audit log; auditLog is the file events are copied to, if any.
	refusals *audit.Refusals
	auditLog *os.File
}

// Open assembles tokend: it connects to the database, applies pending
// migrations, loads the scope catalog and the signing keys (creating the
// first one if there is none), and builds the service and its HTTP API.
func Open(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	catalog, err := LoadCatalog(cfg.ScopesFile)
	if err != nil {
		return nil, err
	}
	var scanKeys *secretscan.Keys
	if cfg.SecretScanningKeys != "" {
		if scanKeys, err = secretscan.LoadKeys(cfg.SecretScanningKeys); err != nil {
			return nil, fmt.Errorf("TOKEND_SECRET_SCANNING_KEYS: %w", err)
		}
	}
	sealer, err := keys.NewSealer(opt.Secret)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg.DatabaseURL, log, opt.Wait)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, m := range applied {
		log.Info("applied migration", "migration", m)
	}
	// Copied from the first event on: the first signing key's.
	auditLog, err := openAuditLog(st, cfg.AuditLog, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok && auditLog != nil {
			auditLog.Close()
		}
	}()
	ring := keys.NewRing(st.Keys, sealer, opt.Now)
	if err := ring.Load(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	state, err := replica.New(ctx, st, ring, replica.Config{MaxAge: cfg.StateMaxAge, Tokens: cfg.StateTokens, Log: log})
	if err != nil {
		return nil, fmt.Errorf("replica state: %w", err)
	}
	svc := service.New(service.Deps{
		Tx: st, Users: st.Users, Tokens: st.Tokens, Changes: st, Audit: st, Credentials: state, Keys: ring, Catalog: catalog,
	}, service.Config{Issuer: cfg.Issuer, MaxLifetime: cfg.MaxTokenLifetime, MaxTokensPerUser: cfg.MaxTokensPerUser,
		Retention: cfg.TokenRetention, Now: opt.Now})
	guard := &webhook.Guard{AllowPrivate: cfg.Webhooks.AllowPrivate}
	box := outbox.New(st.Outbox, sealer, outbox.Config{
		Backoff: cfg.Webhooks.Backoff, Timeout: cfg.Webhooks.Timeout, MaxFailures: cfg.Webhooks.MaxFailures,
		// A claim outlives its attempt by two more timeouts: an attempt
		// recorded after its lease would be sent again.
		Lease: 3 * cfg.Webhooks.Timeout, Poll: cfg.Webhooks.Poll, Guard: guard, Now: opt.Now, Log: log,
	})
	// Events committed here are fanned out at once; those committed by
	// other replicas at the next poll.
	st.OnAudit(func([]audit.Event) { box.Wake() })
	notices := expiry.New(st, expiry.Config{Windows: cfg.ExpiryNotices, Interval: cfg.ExpiryCheckInterval,
		DisableUnusedAfter: cfg.DisableUnusedAfter, Now: opt.Now, Log: log})
	refusals := audit.NewRefusals(0)
	handler := httpapi.NewServer(log, httpapi.Config{
		Refusals:       refusals,
		DB:             st.SQL(),
		PublicURL:      cfg.PublicURL,
		Proxies:        clientip.New(cfg.TrustedProxies),
		RequestTimeout: cfg.RequestTimeout,
		Now:            opt.Now,
		AuthFailures:   cfg.AuthFailures,
		TokenCreates:   cfg.TokenCreates,
		Revocations:    cfg.Revocations,
		CORSOrigins:    cfg.CORSOrigins,
		Webhooks:       svc.NewWebhooks(st.Webhooks, sealer, guard),

		SecretScanningKeys: scanKeys,
	}, svc)
	ok = true
	return &App{Store: st, Ring: ring, State: state, Service: svc, Handler: handler, Outbox: box, Notices: notices,
		cfg: cfg, log: log, refusals: refusals, auditLog: auditLog}, nil
}

// OpenStore opens the database, retrying while it is unreachable for up to
// wait. It applies no migrations.
func OpenStore(ctx context.Context, url string, log *slog.Logger, wait time.Duration) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := store.Open(octx, url)
		cancel()
		if err == nil || !errors.Is(err, store.ErrOutage) || time.Now().After(deadline) {
			return st, err
		}
		log.Warn("database unreachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// LoadCatalog reads the scope catalog file at path, or the default catalog
// for "".
func LoadCatalog(path string) (*apitoken.Catalog, error) {
	data := schema.Scopes
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read scope catalog: %w", err)
		}
	}
	return apitoken.ParseCatalog(data)
}

// Close closes the database, and the copy of the audit log.
func (a *App) Close() error {
	if a.auditLog != nil {
		a.auditLog.Close()
	}
	return a.Store.Close()
}

// usageFlushInterval is how often tokens' last uses are written.
const usageFlushInterval = 5 * time.Second

// Count changes are folded every countFoldBusy while tokens change, and
// every countFoldIdle otherwise: a creation reads its user's changes not
// yet folded, so they are kept few.
const (
	countFoldBusy = 100 * time.Millisecond
	countFoldIdle = time.Second
)

// foldCounts folds the changes to token counts until ctx ends: again
// after countFoldBusy if it folded any, after countFoldIdle if not.
func (a *App) foldCounts(ctx context.Context) {
	wait := countFoldIdle
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = countFoldIdle
		n, err := a.Store.Tokens.FoldCounts(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("fold token counts", "err", err)
		}
		if n > 0 {
			wait = countFoldBusy
		}
	}
}

// retentionInterval is how often tokens past their retention are purged,
// after the purge at start.
const retentionInterval = time.Hour

// background runs fn in a goroutine, with a context of parent's that the
// returned function cancels before it waits for fn to return.
func background(parent context.Context, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Serve serves the HTTP API on ln until ctx ends, then shuts down
// gracefully: it stops accepting connections, lets the requests in flight
// finish within the configured shutdown timeout, and writes the last uses
// of tokens. It returns nil after a graceful shutdown.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Tokens' last uses are written in batches; the flusher stops after
	// the server, so that the uses of the last requests are written too.
	defer background(context.Background(), func(ctx context.Context) {
		a.Service.RunUsageFlusher(ctx, usageFlushInterval, func(err error) {
			a.log.Warn("write last token uses", "err", err)
		})
	})()
	// Count changes are folded, and the replica's state follows changes
	// made elsewhere, until the server has stopped.
	defer background(context.Background(), a.foldCounts)()
	defer background(context.Background(), a.State.Run)()
	// Webhook deliveries and expiry notices stop with the shutdown: what
	// they leave undone stays in the database for the next start or
	// another replica.
	defer background(ctx, a.Outbox.Run)()
	defer background(ctx, a.Notices.Run)()
	// Refused authentications are flushed to the audit log every
	// refusalFlushInterval, and a last time once the server has stopped.
	defer background(context.Background(), a.flushRefusals)()
	if a.cfg.AuditRetention > 0 {
		defer background(ctx, a.pruneEvents)()
	}
	// Every replica purges the tokens past their retention, at start and
	// every hour; replicas purging at once share the work. A purge stops
	// as soon as the shutdown begins.
	if a.cfg.TokenRetention > 0 {
		defer background(ctx, func(ctx context.Context) {
			a.Service.RunRetention(ctx, retentionInterval, func(n int64, took time.Duration) {
				a.log.Info("purged tokens past their retention", "tokens", n, "took", took.Round(time.Millisecond).String())
			}, func(err error) {
				a.log.Warn("purge tokens past their retention", "err", err)
			})
		})()
	}

	if a.cfg.PprofListen != "" {
		pln, err := net.Listen("tcp", a.cfg.PprofListen)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		pctx, stopPprof := context.WithCancel(ctx)
		defer stopPprof()
		go a.servePprof(pctx, pln)
		a.log.Info("serving profiles", "addr", pln.Addr().String())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running past the timeout are cut off.
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}
