package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// DefaultPruneBatch is the most audit events one transaction of
// PruneEvents deletes.
const DefaultPruneBatch = 1000

// PruneEvents deletes the audit events that occurred before before from
// the old end of the chain, and returns how many it deleted. It deletes
// in batches of at most DefaultPruneBatch (or batch, if positive), one
// short transaction each, which locks the chain's head (appends wait for
// it) and moves the chain's start past the events it deleted, so that
// VerifyChain starts from the first event kept and still verifies the
// rest. It stops at the first event kept: the chain is only ever cut at
// its old end, never in the middle, even where an event's time is earlier
// than the one before it. Like Purge, it pauses between batches on SQLite,
// so that other writers take the write lock in between.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	var total int64
	for {
		n, err := s.pruneOnce(ctx, dbTime(before), batch)
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
		if s.dialect == SQLite {
			pause := time.NewTimer(minSQLitePurgePause)
			select {
			case <-ctx.Done():
				pause.Stop()
				return total, s.wrap(ctx, ctx.Err(), "")
			case <-pause.C:
			}
		}
	}
}

// pruneOnce deletes the next batch of PruneEvents.
func (s *Store) pruneOnce(ctx context.Context, before time.Time, batch int) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var head chainRow
		if err := lockForUpdate(tx).Where("id = 1").Take(&head).Error; err != nil {
			return err
		}
		var rows []auditRow
		err := tx.Select("seq", "occurred_at", "hash").Where("seq >= ?", head.StartSeq).
			Order("seq").Limit(batch).Find(&rows).Error
		if err != nil {
			return err
		}
		cut := 0
		for cut < len(rows) && rows[cut].OccurredAt.Before(before) {
			cut++
		}
		if cut == 0 {
			return nil
		}
		last := rows[cut-1]
		if err := tx.Where("seq >= ? AND seq <= ?", head.StartSeq, last.Seq).Delete(&auditRow{}).Error; err != nil {
			return err
		}
		n = int64(cut)
		return tx.Model(&chainRow{}).Where("id = 1").
			Updates(map[string]any{"start_seq": last.Seq + 1, "start_prev_hash": last.Hash}).Error
	})
	return n, s.wrap(ctx, err, "")
}
