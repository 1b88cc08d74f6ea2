package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// TokenState is the state of a token that verifiers need to know: whether
// it was revoked or disabled, and its current expiration.
type TokenState struct {
	ID         string
	UserID     string
	Revoked    bool
	Enabled    bool
	Expiration time.Time
	UpdatedAt  time.Time
}

// UserState is whether a user is disabled.
type UserState struct {
	ID        string
	Disabled  bool
	UpdatedAt time.Time
}

// Position is a place in the feed of changes: rows are ordered by
// (UpdatedAt, ID), and a position is the last row read.
type Position struct {
	At time.Time
	ID string
}

// ChangedTokens returns up to limit tokens changed at or after since and
// after the position, in feed order. It leaves out tokens expired by
// notExpiredAt, and tokens never changed since they were created, whose
// state verifiers read from the token itself. A zero since gives every
// changed token: the snapshot a verifier starts from.
func (ts *Tokens) ChangedTokens(ctx context.Context, since time.Time, after Position, notExpiredAt time.Time, limit int) ([]TokenState, error) {
	q := ts.s.conn(ctx).Model(&tokenRow{}).
		Select("id, user_id, revoked_at, enabled, expiration, updated_at").
		Where("expiration > ? AND updated_at > created_at", dbTime(notExpiredAt))
	if !since.IsZero() {
		q = q.Where("updated_at >= ?", dbTime(since))
	}
	q = afterPosition(q, after)
	var rows []tokenRow
	if err := q.Order("updated_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, ts.s.wrap(err, "")
	}
	out := make([]TokenState, len(rows))
	for i, r := range rows {
		out[i] = TokenState{
			ID: r.ID, UserID: r.UserID, Revoked: r.RevokedAt != nil, Enabled: r.Enabled,
			Expiration: r.Expiration.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		}
	}
	return out, nil
}

// ChangedUsers returns up to limit users changed at or after since, in
// feed order. With a zero since it returns only the disabled users.
func (us *Users) ChangedUsers(ctx context.Context, since time.Time, limit int) ([]UserState, error) {
	q := us.s.conn(ctx).Model(&userRow{}).Select("id, disabled, updated_at")
	if since.IsZero() {
		q = q.Where("disabled = ?", true)
	} else {
		q = q.Where("updated_at >= ?", dbTime(since))
	}
	var rows []userRow
	if err := q.Order("updated_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, us.s.wrap(err, "")
	}
	out := make([]UserState, len(rows))
	for i, r := range rows {
		out[i] = UserState{ID: r.ID, Disabled: r.Disabled, UpdatedAt: r.UpdatedAt.UTC()}
	}
	return out, nil
}

func afterPosition(q *gorm.DB, after Position) *gorm.DB {
	if after.At.IsZero() {
		return q
	}
	at := dbTime(after.At)
	return q.Where("(updated_at > ? OR (updated_at = ? AND id > ?))", at, at, after.ID)
}

// maxUsesPerStatement bounds the rows one RecordUses statement updates,
// and with them its bind parameters.
const maxUsesPerStatement = 1000

// RecordUses stores the tokens' latest uses. A use older than the one
// stored is ignored; of two in the same millisecond, the one recorded last
// wins. It leaves updated_at alone: a use is not a change of state, and
// must not reach the revocation feed.
//
// The uses are written in one transaction, one statement per thousand,
// with the rows locked in token id order, so that replicas flushing at the
// same time lock rows in the same order and never deadlock.
func (ts *Tokens) RecordUses(ctx context.Context, uses map[string]apitoken.Use) error {
	if len(uses) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(uses))
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(ids, maxUsesPerStatement) {
			if ts.s.dialect == Postgres {
				// The UPDATE locks rows in whatever order its plan meets
				// them; taking the locks first, sorted, fixes the order.
				var locked []string
				err := tx.Raw("SELECT id FROM api_tokens WHERE id IN ? ORDER BY id FOR UPDATE", chunk).Scan(&locked).Error
				if err != nil {
					return err
				}
			}
			if err := tx.Exec(ts.recordUsesSQL(len(chunk)), useArgs(chunk, uses)...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return ts.s.wrap(err, "")
}

// recordUsesSQL returns the statement that records n uses.
func (ts *Tokens) recordUsesSQL(n int) string {
	row := "(?, ?, ?)"
	if ts.s.dialect == Postgres {
		row = "(?::uuid, ?::timestamptz, ?::text)"
	}
	rows := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	return "WITH v (id, at, ip) AS (VALUES " + rows + ") " +
		"UPDATE api_tokens SET last_used_at = v.at, last_used_ip = v.ip FROM v " +
		"WHERE api_tokens.id = v.id AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= v.at)"
}

func useArgs(ids []string, uses map[string]apitoken.Use) []any {
	args := make([]any, 0, 3*len(ids))
	for _, id := range ids {
		u := uses[id]
		args = append(args, id, dbTime(u.At), strPtr(u.IP))
	}
	return args
}
