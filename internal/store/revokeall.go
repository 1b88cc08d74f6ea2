package store

import (
	"cmp"
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

// revokeAllBatch is the most tokens one transaction of RevokeAll revokes,
// by dialect (a variable for the tests): at least as many as a user holds
// within the default cap of live tokens, so that a user within it is
// revoked at once. On SQLite, where a batch holds the one write lock, few
// enough that other writers wait little and a batch stays far within its
// 2 s deadline on a busy machine (5,000 did not); on PostgreSQL, where a
// batch locks only its rows, more, since each batch costs a fixed part
// (100,000 tokens took 3.6 s in batches of 5,000 and 6.5 s in batches of
// 1,000 on the test machine).
var revokeAllBatch = map[string]int{SQLite: 1000, Postgres: 5000}

// revokeAllWork is how long RevokeAll's batches run back to back on
// SQLite before it pauses for minSQLitePurgePause, so that the writers
// waiting for the write lock take it in between: a writer waits for the
// lock at most about that long.
const revokeAllWork = 250 * time.Millisecond

// errNoneLeft rolls back a batch of RevokeAll that found nothing to
// revoke, and with it the change number it took.
var errNoneLeft = errors.New("store: no token left to revoke")

// RevokeAll revokes every token of the user that is neither revoked nor
// expired at now, disabled ones included, and returns their ids. It
// revokes up to revokeAllBatch tokens a transaction, each with one change number
// for its tokens and their counts taken off (counts.go), until a batch
// finds none: a user holding many tokens keeps no lock long, and a
// transaction of the API stays within its deadline. Between two batches
// the tokens of the first are revoked everywhere; tokens created meanwhile
// may be revoked too.
//
// The batches go through the user's tokens in creation order, each from
// where the last ended, as a list's pages do: the rows of a batch lie
// together in the table and its indexes, so a batch rewrites few pages
// (taken in the order of their expiration, the batches of 100,000 tokens
// rewrote most of the table each, and were six times slower than one
// UPDATE on SQLite). A statement checks each row's state again as it
// updates it (on PostgreSQL, a row changed meanwhile by another
// transaction is read again), so that a token revoked meanwhile is neither
// revoked twice nor counted twice.
//
// On SQLite, where a batch holds the database's one write lock, RevokeAll
// pauses after each revokeAllWork of batches, as Purge does after each
// batch, so that other writers are not kept from the lock past their
// deadline.
//
// RevokeAll must not run within a transaction of InTx, which would make
// one transaction of every batch.
func (ts *Tokens) RevokeAll(ctx context.Context, userID string, now time.Time) ([]string, error) {
	at := dbTime(now)
	var ids []string
	// The batches start past the zero position: no token was created at
	// the zero time.
	from := apitoken.ListPosition{ID: "00000000-0000-0000-0000-000000000000"}
	working := time.Now()
	for {
		if ts.s.dialect == SQLite && time.Since(working) > revokeAllWork {
			pause := time.NewTimer(minSQLitePurgePause)
			select {
			case <-ctx.Done():
				pause.Stop()
				return ids, ts.s.wrap(ctx, ctx.Err(), "")
			case <-pause.C:
			}
			working = time.Now()
		}
		var after []tokenRow
		err := ts.s.tx(ctx, func(tx *gorm.DB) error {
			seq, err := ts.s.nextChange(tx)
			if err != nil {
				return err
			}
			q, args := ts.revokeBatchSQL(userID, from, at, seq)
			if err := tx.Raw(q, args...).Scan(&after).Error; err != nil {
				return err
			}
			if len(after) == 0 {
				return errNoneLeft
			}
			before := make([]tokenRow, len(after))
			events := make([]audit.Event, len(after))
			actor := audit.ActorFrom(tx.Statement.Context)
			for i, r := range after {
				r.RevokedAt = nil
				before[i] = r
				c := audit.Changes{}
				c.Set("revokedAt", nil, dbTime(at))
				events[i] = tokenEvent(actor, audit.TokenRevoked, &after[i], c, at)
			}
			if err := recordCounts(tx, before, after); err != nil {
				return err
			}
			// One event per token revoked, all in one INSERT: each
			// token's history, and a webhook's filter on it, stays whole.
			return ts.s.appendEvents(tx, events...)
		})
		if errors.Is(err, errNoneLeft) {
			return ids, nil
		}
		if err != nil {
			return ids, ts.s.wrap(ctx, err, "")
		}
		for i := range after {
			ids = append(ids, after[i].ID)
			if pos := (apitoken.ListPosition{CreatedAt: after[i].CreatedAt, ID: after[i].ID}); listsAfter(pos, from) {
				from = pos
			}
		}
	}
}

// listsAfter reports whether a comes after b in a list ordered by
// creation.
func listsAfter(a, b apitoken.ListPosition) bool {
	return a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID > b.ID)
}

// revokeBatchSQL returns the statement of one batch of RevokeAll, which
// revokes the user's next tokens past the position from, and its
// arguments. It picks the batch from the user's list index, in creation
// order; on PostgreSQL it then locks the batch's rows in id order, as
// RecordUses and UpdateEach lock rows, so that a flush of uses running at
// once never deadlocks with it (an SQLite transaction holds the write lock
// alone, and SQLite is told the index, as for lists).
func (ts *Tokens) revokeBatchSQL(userID string, from apitoken.ListPosition, at time.Time, seq int64) (string, []any) {
	table := "api_tokens"
	if ts.s.dialect == SQLite {
		table += " INDEXED BY api_tokens_user_created"
	}
	batch := "SELECT id FROM " + table + " WHERE user_id = ? AND (created_at, id) > (?, ?) AND revoked_at IS NULL AND expiration > ?" +
		" ORDER BY created_at, id LIMIT ?"
	args := []any{at, at, seq, userID, dbTime(from.CreatedAt), from.ID, at, cmp.Or(ts.s.revokeAllBatch, revokeAllBatch[ts.s.dialect])}
	in := "id IN (" + batch + ")"
	if ts.s.dialect == Postgres {
		// = ANY(ARRAY(…)) rather than IN (…): with IN, PostgreSQL joins
		// the batch's ids to a scan of the whole table, twice a batch.
		in = "id = ANY(ARRAY(SELECT id FROM api_tokens WHERE id = ANY(ARRAY(" + batch + ")) AND revoked_at IS NULL AND expiration > ?" +
			" ORDER BY id FOR UPDATE))"
		args = append(args, at)
	}
	return `UPDATE api_tokens SET revoked_at = ?, updated_at = ?, change_seq = ?
		WHERE ` + in + ` AND revoked_at IS NULL AND expiration > ?
		RETURNING id, user_id, enabled, expiration, revoked_at, created_at`, append(args, at)
}
