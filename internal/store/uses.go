package store

import (
	"context"
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

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
	return ts.s.wrap(ctx, err, "")
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
		var ip *string
		if u.IP.IsValid() {
			ip = strPtr(u.IP.String())
		}
		args = append(args, id, dbTime(u.At), ip)
	}
	return args
}
