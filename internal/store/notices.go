package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

type noticeRow struct {
	TokenID    string    `gorm:"column:token_id;primaryKey"`
	WindowSecs int64     `gorm:"column:window_secs;primaryKey"`
	NoticedAt  time.Time `gorm:"column:noticed_at"`
}

func (noticeRow) TableName() string { return "token_expiry_notices" }

// NoticeExpiring gives the apiToken.expiring event of up to limit live
// tokens whose expiration came within window of now, once per token and
// window: the notice's row and its event are inserted in one transaction,
// and a row already there (another replica's) means no event. A token
// whose whole life was shorter than the window never came into it and gets
// none. It returns how many tokens it looked at, which is limit when there
// may be more.
func (s *Store) NoticeExpiring(ctx context.Context, now time.Time, window time.Duration, label string, limit int) (int, error) {
	now = dbTime(now)
	secs := int64(window / time.Second)
	var rows []struct {
		ID         string
		UserID     string
		Expiration time.Time
		CreatedAt  time.Time
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Raw(`SELECT t.id, t.user_id, t.expiration, t.created_at FROM api_tokens t
			WHERE t.revoked_at IS NULL AND t.enabled AND t.expiration > ? AND t.expiration <= ?
			AND NOT EXISTS (SELECT 1 FROM token_expiry_notices n WHERE n.token_id = t.id AND n.window_secs = ?)
			ORDER BY t.expiration, t.id LIMIT ?`, now, dbTime(now.Add(window)), secs, limit).Scan(&rows).Error
		if err != nil {
			return err
		}
		// In the order read, the same on every replica, so that two
		// replicas inserting the same notices wait for each other in
		// turn and never in a cycle.
		for _, r := range rows {
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&noticeRow{TokenID: r.ID, WindowSecs: secs, NoticedAt: now})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 || r.Expiration.Sub(r.CreatedAt) <= window {
				continue // noticed elsewhere, or never outside the window
			}
			ev := audit.Event{Action: audit.TokenExpiring, TargetType: audit.TargetToken, TargetID: r.ID,
				UserID: r.UserID, Changes: audit.Changes{}}
			exp := apitoken.FormatTime(r.Expiration)
			ev.Changes.Set("expiration", exp, exp)
			ev.Changes.Set("noticeWindow", nil, label)
			if err := s.appendEvents(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	return len(rows), s.wrap(ctx, err, "")
}

// DisableUnused revokes up to limit live tokens (neither revoked nor
// expired at now) unused for the period, counted from their creation if
// they were never used, each with an apiToken.disabled event in the same
// transaction that says why. It returns how many tokens it looked at,
// which is limit when there may be more.
func (s *Store) DisableUnused(ctx context.Context, now time.Time, unused time.Duration, limit int) (int, error) {
	now = dbTime(now)
	cutoff := dbTime(now.Add(-unused))
	var ids []string
	err := s.conn(ctx).Raw(`SELECT id FROM api_tokens WHERE revoked_at IS NULL AND expiration > ?
		AND COALESCE(last_used_at, created_at) < ? ORDER BY id LIMIT ?`, now, cutoff, limit).Scan(&ids).Error
	if err != nil || len(ids) == 0 {
		return 0, s.wrap(ctx, err, "")
	}
	// The revocations record apiToken.disabled with the reason, not
	// apiToken.revoked (withCause).
	ctx = withCause(ctx, audit.TokenDisabled, "unused for "+apitoken.FormatDuration(unused))
	_, err = s.Tokens.UpdateEach(ctx, ids, func(t *apitoken.Token) error {
		last := t.CreatedAt
		if t.LastUsedAt != nil {
			last = *t.LastUsedAt
		}
		// Checked again under the row's lock: a use or a revocation
		// since the read above keeps the token as it is.
		if t.RevokedAt != nil || !t.Expiration.After(now) || !last.Before(cutoff) {
			return nil
		}
		at := now
		t.RevokedAt, t.UpdatedAt = &at, now
		return nil
	})
	return len(ids), err
}
