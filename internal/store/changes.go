package store

import (
	"context"

	"gorm.io/gorm"
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
	return seq, s.wrap(ctx, err, "")
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

// The statements of ChangesSince read the indexes of changes (migration
// 0003), whose condition change_seq > 0 they repeat: a plan made for any
// change number, such as a prepared statement's generic plan, can then
// read the index, where "change_seq > ?" alone would have it scan the
// table at every change a replica follows.
const (
	changedTokensSQL = "SELECT id FROM api_tokens WHERE change_seq > 0 AND change_seq > ? ORDER BY change_seq LIMIT ?"
	changedUsersSQL  = "SELECT id FROM users WHERE change_seq > 0 AND change_seq > ?"
)

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
	if err := db.Raw(changedTokensSQL, since, limit+1).Scan(&ch.Tokens).Error; err != nil {
		return ch, s.wrap(ctx, err, "")
	}
	if len(ch.Tokens) > limit {
		ch.Tokens, ch.Truncated = ch.Tokens[:limit], true
	}
	if err := db.Raw(changedUsersSQL, since).Scan(&ch.Users).Error; err != nil {
		return ch, s.wrap(ctx, err, "")
	}
	var keys int64
	if err := db.Model(&keyRow{}).Where("change_seq > ?", since).Count(&keys).Error; err != nil {
		return ch, s.wrap(ctx, err, "")
	}
	ch.Keys = keys > 0
	return ch, nil
}
