package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/keys"
)

// Wrap exposes the store's error translation to the black-box tests, for
// errors they cause outside the store.
func Wrap(s *Store, err error) error { return s.wrap(context.Background(), err, "") }

// WrapCall exposes the store's error translation of a call made with ctx.
func WrapCall(ctx context.Context, s *Store, err error) error { return s.wrap(ctx, err, "") }

// SetBulkChunk sets how many tokens BulkCreate writes in one transaction,
// for tests of several chunks that stay small, and returns the old value.
func SetBulkChunk(n int) int { old := bulkChunk; bulkChunk = n; return old }

// SetCountFoldBatch sets the most count changes the store's FoldCounts
// moves at once.
func SetCountFoldBatch(s *Store, n int) { s.foldBatch = n }

// MigrateUpTo applies the migrations up to version v.
func MigrateUpTo(ctx context.Context, s *Store, v int) ([]string, error) { return s.migrate(ctx, v) }

// InsertTokenRow stores the token's row alone, as tokend did before it
// counted tokens.
func InsertTokenRow(ctx context.Context, s *Store, t *apitoken.Token) error {
	row, err := newTokenRow(t)
	if err != nil {
		return err
	}
	// The columns of later migrations are left out.
	return s.db.WithContext(ctx).Omit("rotated_from", "rotated_to", "retire_previous_on_use",
		"leaked_at", "leak_url", "leak_source", "recent_clients").Create(&row).Error
}

// SetPurgeBatch sets how many tokens one statement of the store's Purge
// deletes, and drops its pause between batches, for tests of several
// batches that stay small and quick.
func SetPurgeBatch(s *Store, n int) { s.Tokens.purgeBatch, s.Tokens.noPurgePause = n, true }

// KeepPurgePause has the store's Purge pause between batches again, as in
// production, after SetPurgeBatch.
func KeepPurgePause(s *Store) { s.Tokens.noPurgePause = false }

// PurgePause returns how long the store's Purge pauses after a batch that
// took took.
func PurgePause(s *Store, took time.Duration) time.Duration { return s.Tokens.purgePause(took) }

// OnPurgeBatch has fn called after every batch the store's Purge deletes,
// between batches, with the batch's count.
func OnPurgeBatch(s *Store, fn func(n int64)) { s.Tokens.afterPurgeBatch = fn }

// PurgeSQL returns the statement of one batch of the store's Purge, for
// checking its plan.
func PurgeSQL(s *Store) string { return s.Tokens.purgeSQL() }

// SetRevokeAllBatch sets how many tokens one transaction of the store's
// RevokeAll revokes.
func SetRevokeAllBatch(s *Store, n int) { s.revokeAllBatch = n }

// DSN returns the connection string the store opened.
func DSN(s *Store) string { return s.dsn }

// HoldCreateBatches stops the store's batched creations (PostgreSQL)
// before they are written: they queue until release is called. queued,
// when not nil, is called for every creation queued, and batch with the
// size of every batch taken.
func HoldCreateBatches(s *Store, queued func(), batch func(n int)) (release func()) {
	gate := make(chan struct{})
	b := &s.Tokens.batch
	b.mu.Lock()
	b.hooks.gate, b.hooks.onQueued, b.hooks.onBatch = gate, queued, batch
	b.mu.Unlock()
	return func() { close(gate) }
}

// OnCreateBatch has fn called with the size of every batch of creations
// the store writes (PostgreSQL).
func OnCreateBatch(s *Store, fn func(n int)) {
	b := &s.Tokens.batch
	b.mu.Lock()
	b.hooks.onBatch = fn
	b.mu.Unlock()
}

// OnCreateBatchWritten has fn learn how every batch of creations was
// written (PostgreSQL): in one round trip, or in two.
func OnCreateBatchWritten(s *Store, fn func(oneTrip bool)) {
	b := &s.Tokens.batch
	b.mu.Lock()
	b.hooks.onWrite = fn
	b.mu.Unlock()
}

// CreateBatchMax is the most creations one batch writes.
const CreateBatchMax = createBatchMax

// ChangedTokensSQL and ChangedUsersSQL are the statements of ChangesSince,
// for checking their plans.
const (
	ChangedTokensSQL = changedTokensSQL
	ChangedUsersSQL  = changedUsersSQL
)

// InsertUserRow stores the user's row alone, as tokend did before the
// audit log.
func InsertUserRow(ctx context.Context, s *Store, u *apitoken.User) error {
	row := newUserRow(u)
	return s.db.WithContext(ctx).Create(&row).Error
}

// InsertKeyRow stores the key's row alone, as tokend did before the audit
// log.
func InsertKeyRow(ctx context.Context, s *Store, k *keys.Record) error {
	row := newKeyRow(k)
	return s.db.WithContext(ctx).Create(&row).Error
}

// AppendEventsInPlainTx appends events with appendEvents in a transaction
// opened on GORM directly, not through the store's InTx.
func AppendEventsInPlainTx(ctx context.Context, s *Store, events ...audit.Event) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.appendEvents(tx, events...) })
}
