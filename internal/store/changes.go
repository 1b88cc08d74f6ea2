package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// ChangeChannel is the PostgreSQL channel every change is notified on, with
// its change number as the payload.
const ChangeChannel = "tokend_changes"

// nextChange takes the next change number in the transaction tx: the
// transaction changing the state of a token, a user or a signing key stamps
// the rows it changes with it. The counter's row stays locked until the
// transaction ends, so numbers are taken in commit order (see
// schema/postgres/0003_changes.sql). On PostgreSQL the number is notified
// on ChangeChannel when the transaction commits, and not if it rolls back.
func (s *Store) nextChange(tx *gorm.DB) (int64, error) {
	var seq int64
	q := "UPDATE change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq"
	if s.dialect == Postgres {
		q = "WITH c AS (" + q + ") SELECT c.seq FROM c CROSS JOIN LATERAL pg_notify('" + ChangeChannel + "', c.seq::text) AS n"
	}
	err := tx.Raw(q).Scan(&seq).Error
	return seq, err
}

// ChangeSeq returns the number of the latest committed change.
func (s *Store) ChangeSeq(ctx context.Context) (int64, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	var seq int64
	err = s.conn(ctx).Raw("SELECT seq FROM change_counter WHERE id = 1").Scan(&seq).Error
	return seq, s.wrap(err, "")
}

// Changes is what changed after a change number.
type Changes struct {
	// Seq is the latest change number the changes run to.
	Seq int64
	// Tokens and Users are the ids of the tokens and users changed.
	Tokens, Users []string
	// Keys reports a change to the signing keys.
	Keys bool
	// Truncated reports that more tokens changed than were asked for:
	// Tokens lists only some of them.
	Truncated bool
}

// ChangesSince returns what changed after the change number since, up to
// the latest committed change, listing at most limit tokens.
func (s *Store) ChangesSince(ctx context.Context, since int64, limit int) (Changes, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return Changes{}, err
	}
	defer done()
	var ch Changes
	// The counter is read first: every change up to it is committed, and
	// so visible to the queries that follow.
	if ch.Seq, err = s.ChangeSeq(ctx); err != nil || ch.Seq <= since {
		return ch, err
	}
	db := s.conn(ctx)
	if err := db.Model(&tokenRow{}).Where("change_seq > ?", since).Order("change_seq").Limit(limit+1).Pluck("id", &ch.Tokens).Error; err != nil {
		return ch, s.wrap(err, "")
	}
	if len(ch.Tokens) > limit {
		ch.Tokens, ch.Truncated = ch.Tokens[:limit], true
	}
	if err := db.Model(&userRow{}).Where("change_seq > ?", since).Pluck("id", &ch.Users).Error; err != nil {
		return ch, s.wrap(err, "")
	}
	var keys int64
	if err := db.Model(&keyRow{}).Where("change_seq > ?", since).Count(&keys).Error; err != nil {
		return ch, s.wrap(err, "")
	}
	ch.Keys = keys > 0
	return ch, nil
}

// afterPosition selects the rows past the position.
func afterPosition(q *gorm.DB, p apitoken.Position) *gorm.DB {
	if p.ID == "" {
		return q.Where("change_seq > ?", p.Change)
	}
	return q.Where("(change_seq > ? OR (change_seq = ? AND id > ?))", p.Change, p.Change, p.ID)
}

// ChangedTokens returns up to limit tokens changed past the position, in
// change order, but those whose exp claim passed before notExpiredAt:
// every verifier refuses them anyway. Tokens never changed since they were
// created are left out too; verifiers read their state from the token.
func (ts *Tokens) ChangedTokens(ctx context.Context, after apitoken.Position, notExpiredAt time.Time, limit int) ([]apitoken.TokenState, error) {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	q := ts.s.conn(ctx).Model(&tokenRow{}).
		Select("id, user_id, revoked_at, enabled, expiration, claim_expiration, change_seq").
		Where("change_seq > 0 AND claim_expiration > ?", dbTime(notExpiredAt))
	var rows []tokenRow
	if err := afterPosition(q, after).Order("change_seq, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, ts.s.wrap(err, "")
	}
	out := make([]apitoken.TokenState, len(rows))
	for i, r := range rows {
		out[i] = apitoken.TokenState{
			ID: r.ID, UserID: r.UserID, Revoked: r.RevokedAt != nil, Enabled: r.Enabled,
			Expiration: r.Expiration.UTC(), ClaimExpiration: r.ClaimExpiration.UTC(), Change: r.ChangeSeq,
		}
	}
	return out, nil
}

// ChangedUsers returns up to limit users changed past the position, in
// change order.
func (us *Users) ChangedUsers(ctx context.Context, after apitoken.Position, limit int) ([]apitoken.UserState, error) {
	ctx, done, err := us.s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	q := us.s.conn(ctx).Model(&userRow{}).Select("id, disabled, change_seq").Where("change_seq > 0")
	var rows []userRow
	if err := afterPosition(q, after).Order("change_seq, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, us.s.wrap(err, "")
	}
	out := make([]apitoken.UserState, len(rows))
	for i, r := range rows {
		out[i] = apitoken.UserState{ID: r.ID, Disabled: r.Disabled, Change: r.ChangeSeq}
	}
	return out, nil
}
