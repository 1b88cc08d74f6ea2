package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/store"
)

// refusalFlushInterval is how often the refused authentications counted
// in memory are appended to the audit log, one event per address and
// reason.
const refusalFlushInterval = 5 * time.Second

// auditPruneInterval is how often audit events past their retention are
// pruned, after the pruning at start.
const auditPruneInterval = time.Hour

// openAuditLog has the store copy each committed event to where the
// setting TOKEND_AUDIT_LOG names: "stdout", or a file, opened to append
// and created readable by its owner only. It returns the file, to close,
// or nil.
func openAuditLog(st *store.Store, dest string, log *slog.Logger) (*os.File, error) {
	if dest == "" {
		return nil, nil
	}
	fail := func(err error) { log.Warn("copy audit events to the audit log", "err", err) }
	if dest == "stdout" {
		st.OnAudit(audit.JSONLines(os.Stdout, fail))
		return nil, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("TOKEND_AUDIT_LOG: %w", err)
	}
	st.OnAudit(audit.JSONLines(f, fail))
	return f, nil
}

// flushRefusals appends the refused authentications counted since the
// last flush every refusalFlushInterval until ctx ends, then a last
// time.
func (a *App) flushRefusals(ctx context.Context) {
	t := time.NewTicker(refusalFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.FlushRefusals(context.Background())
			return
		case <-t.C:
			a.FlushRefusals(ctx)
		}
	}
}

// FlushRefusals appends the refused authentications counted since the
// last flush to the audit log now, one event per address and reason. If
// the database refuses them, they are logged as lost.
func (a *App) FlushRefusals(ctx context.Context) {
	events := a.refusals.Flush()
	if len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Store.AppendEvents(ctx, events...); err != nil {
		a.log.Warn("append refused authentications to the audit log; they are lost", "events", len(events), "err", err)
	}
}

// pruneEvents prunes the audit events past their retention at start and
// every auditPruneInterval until ctx ends.
func (a *App) pruneEvents(ctx context.Context) {
	for {
		start := time.Now()
		n, err := a.Store.PruneEvents(ctx, start.Add(-a.cfg.AuditRetention), 0)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("prune audit events past their retention", "err", err)
		case n > 0:
			a.log.Info("pruned audit events past their retention", "events", n, "took", time.Since(start).Round(time.Millisecond).String())
		}
		t := time.NewTimer(auditPruneInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
