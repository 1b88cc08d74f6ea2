package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tokend/tokend/internal/audit"
)

// ChainReport is what VerifyChain found.
type ChainReport struct {
	// Events is how many events it checked; StartSeq and HeadSeq are the
	// first and last the chain holds.
	Events            int64
	StartSeq, HeadSeq int64
}

// verifyPage is how many events VerifyChain reads at once.
const verifyPage = 1000

// VerifyChain walks the audit log in seq order from where the chain starts
// (after retention pruned its old end) to its head, and checks that each
// event follows the one before it with no gap, that its hash is its own,
// and that the last is the head. It returns an error wrapping
// audit.ErrBroken that names the first event changed, deleted or
// reordered; other errors are the database's. Each page is read in its own
// short statement, so a long chain holds no lock: events appended while it
// runs are checked up to the head read first.
func (s *Store) VerifyChain(ctx context.Context) (ChainReport, error) {
	var head chainRow
	if err := s.db.WithContext(ctx).Take(&head).Error; err != nil {
		return ChainReport{}, s.wrap(ctx, err, "")
	}
	rep := ChainReport{StartSeq: head.StartSeq, HeadSeq: head.HeadSeq}
	prev, next := head.StartPrevHash, head.StartSeq
	for next <= head.HeadSeq {
		var rows []auditRow
		err := s.db.WithContext(ctx).Where("seq >= ? AND seq <= ?", next, head.HeadSeq).
			Order("seq").Limit(verifyPage).Find(&rows).Error
		if err != nil {
			return rep, s.wrap(ctx, err, "")
		}
		if len(rows) == 0 {
			return rep, fmt.Errorf("%w: events %d to %d are missing (deleted)", audit.ErrBroken, next, head.HeadSeq)
		}
		for i := range rows {
			e, err := rows[i].event()
			if err != nil {
				return rep, fmt.Errorf("%w at event %d (%s): %v (the event was changed)", audit.ErrBroken, rows[i].Seq, rows[i].ID, err)
			}
			if e.Seq != next {
				return rep, fmt.Errorf("%w: event %d is missing (deleted); the next is %d (%s)", audit.ErrBroken, next, e.Seq, e.ID)
			}
			if err := e.Check(prev); err != nil {
				return rep, err
			}
			prev, next = e.Hash, next+1
			rep.Events++
		}
	}
	if !bytes.Equal(prev, head.HeadHash) {
		return rep, fmt.Errorf("%w: the last event, %d, is not the chain's head (it was changed or replaced)", audit.ErrBroken, head.HeadSeq)
	}
	// Rows past the head were written around the chain.
	var extra []int64
	if err := s.db.WithContext(ctx).Model(&auditRow{}).Where("seq > ? OR seq < ?", head.HeadSeq, head.StartSeq).
		Order("seq").Limit(1).Pluck("seq", &extra).Error; err != nil {
		return rep, s.wrap(ctx, err, "")
	}
	if len(extra) > 0 && extra[0] > head.HeadSeq {
		// Appended after the head was read: checked next time.
		return rep, nil
	}
	if len(extra) > 0 {
		return rep, fmt.Errorf("%w: event %d lies before the chain's start, %d", audit.ErrBroken, extra[0], head.StartSeq)
	}
	return rep, nil
}
