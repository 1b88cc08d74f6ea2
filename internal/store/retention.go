package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// DefaultPurgeBatch is the most tokens one statement of Purge deletes.
const DefaultPurgeBatch = 1000

// stoppedAt is when a token stopped working: its revocation or its
// expiration, whichever came first (a token never revoked has a NULL
// revoked_at, and the comparison leaves it at its expiration). It is the
// expression of the index api_tokens_stopped (migration 0006), spelled as
// there, since both databases use an index on an expression only for a
// query that spells it the same way.
const stoppedAt = "CASE WHEN revoked_at < expiration THEN revoked_at ELSE expiration END"

// Purge deletes the tokens that stopped working, revoked or expired,
// before stoppedBefore, and whose exp claim passed before
// claimExpiredBefore, and returns how many it deleted. A token whose exp
// claim has not passed is kept however long ago it was revoked: the
// revocation feed lists it until then, and verifiers that sync from the
// feed refuse it only for as long as they hold its revocation.
//
// Purge deletes in batches of at most DefaultPurgeBatch rows, oldest
// first, one short transaction each (the deletion and the counts it takes
// off), until a batch comes back short, and pauses between batches
// (purgePause): a writer
// waits for one batch at most (on SQLite for the write lock; on PostgreSQL
// a batch locks only the rows it deletes, which requests almost never
// touch). On PostgreSQL a batch skips the rows another batch has locked,
// so replicas purging at once share the work, never wait for one another
// and never count a row twice. Purge takes no change number: what it
// deletes, every replica and verifier already refuses by its exp claim.
//
// Purge must not run within a transaction of InTx, which would make one
// transaction of every batch.
func (ts *Tokens) Purge(ctx context.Context, stoppedBefore, claimExpiredBefore time.Time) (int64, error) {
	batch := ts.purgeBatch
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	q := ts.purgeSQL()
	var total int64
	for {
		start := time.Now()
		n, err := ts.purgeOnce(ctx, q, dbTime(stoppedBefore), dbTime(claimExpiredBefore), batch)
		total += n
		if err != nil {
			return total, err
		}
		if ts.afterPurgeBatch != nil {
			ts.afterPurgeBatch(n)
		}
		if n < int64(batch) {
			return total, nil
		}
		if !ts.noPurgePause {
			pause := time.NewTimer(ts.purgePause(time.Since(start)))
			select {
			case <-ctx.Done():
				pause.Stop()
				return total, ts.s.wrap(ctx, ctx.Err(), "")
			case <-pause.C:
			}
		}
	}
}

// minSQLitePurgePause is the shortest pause between two batches of Purge
// on SQLite: longer than the longest sleep of SQLite's busy handler (100
// ms, after a writer has waited 228 ms), so that every writer waiting for
// the write lock tries again while the purge leaves it free. Without it,
// back-to-back batches can keep a writer from the lock past its deadline.
const minSQLitePurgePause = 100 * time.Millisecond

// purgePause returns how long Purge waits after a batch that took took,
// before the next: as long again, so that a purge takes at most half of
// the database's time, and on SQLite at least minSQLitePurgePause.
func (ts *Tokens) purgePause(took time.Duration) time.Duration {
	if ts.s.dialect == SQLite {
		return max(took, minSQLitePurgePause)
	}
	return took
}

// purgeSQL returns the statement of one batch of Purge, whose arguments
// are stoppedBefore, claimExpiredBefore and the batch's size. Its rows come
// in the index's order, oldest first: a plan reading the index and
// stopping at the batch's size, where without an order PostgreSQL scans the
// table, from its start, through the rows earlier batches left dead.
func (ts *Tokens) purgeSQL() string {
	q := "DELETE FROM api_tokens WHERE id IN (SELECT id FROM api_tokens WHERE " + stoppedAt + " < ? AND claim_expiration < ? " +
		"ORDER BY " + stoppedAt + " LIMIT ?"
	if ts.s.dialect == Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	return q + ")"
}

// purgeOnce runs one batch of Purge: the statement q, and the counts of
// the tokens it deleted taken off (counts.go), in one transaction.
func (ts *Tokens) purgeOnce(ctx context.Context, q string, stoppedBefore, claimExpiredBefore time.Time, batch int) (int64, error) {
	var deleted []tokenRow
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Raw(q+" RETURNING id, user_id, revoked_at, enabled, expiration", stoppedBefore, claimExpiredBefore, batch).Scan(&deleted).Error
		if err != nil {
			return err
		}
		return recordCounts(tx, deleted, nil)
	})
	return int64(len(deleted)), ts.s.wrap(ctx, err, "")
}
