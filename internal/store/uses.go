package store

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// maxRowsPerStatement bounds the rows one statement of RecordUses or
// UpdateEach updates, and with them its bind parameters.
const maxRowsPerStatement = 1000

// RecordUses stores the tokens' latest uses, and merges their recent
// clients into those stored (apitoken.MergeClients). A latest use older
// than the one stored is ignored; of two in the same millisecond, the one
// recorded last wins. It leaves updated_at alone: a use is not a change of
// state, and must not reach the revocation feed.
//
// The uses are written in one transaction, one statement per thousand,
// each after a read of the rows' recent clients; on PostgreSQL the read
// locks the rows in token id order, so that replicas flushing at the same
// time lock rows in the same order and never deadlock, and no flush
// merges into clients another is replacing (an SQLite transaction holds
// the write lock throughout).
func (ts *Tokens) RecordUses(ctx context.Context, uses map[string]apitoken.Usage) error {
	if len(uses) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(uses))
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(ids, maxRowsPerStatement) {
			q := tx.Model(&tokenRow{}).Select("id, recent_clients").Where("id IN ?", chunk).Order("id")
			if ts.s.dialect == Postgres {
				// The UPDATE locks rows in whatever order its plan meets
				// them; taking the locks first, sorted, fixes the order.
				q = lockForUpdate(q)
			}
			var stored []tokenRow
			if err := q.Find(&stored).Error; err != nil {
				return err
			}
			args, err := useArgs(chunk, uses, stored)
			if err != nil {
				return err
			}
			if err := tx.Exec(ts.recordUsesSQL(len(chunk)), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return ts.s.wrap(err, "")
}

// recordUsesSQL returns the statement that records n uses.
func (ts *Tokens) recordUsesSQL(n int) string {
	row := "(?, ?, ?, ?)"
	if ts.s.dialect == Postgres {
		row = "(?::uuid, ?::timestamptz, ?::text, ?::text)"
	}
	rows := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	later := "(api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= v.at)"
	return "WITH v (id, at, ip, clients) AS (VALUES " + rows + ") " +
		"UPDATE api_tokens SET last_used_at = CASE WHEN " + later + " THEN v.at ELSE api_tokens.last_used_at END, " +
		"last_used_ip = CASE WHEN " + later + " THEN v.ip ELSE api_tokens.last_used_ip END, " +
		"recent_clients = coalesce(v.clients, api_tokens.recent_clients) FROM v WHERE api_tokens.id = v.id"
}

// useArgs returns the values of recordUsesSQL for the tokens ids: each
// one's latest use, and its recent clients merged with those stored.
func useArgs(ids []string, uses map[string]apitoken.Usage, stored []tokenRow) ([]any, error) {
	clients := make(map[string]*string, len(stored))
	for _, r := range stored {
		clients[r.ID] = r.RecentClients
	}
	args := make([]any, 0, 4*len(ids))
	for _, id := range ids {
		u := uses[id]
		var ip *string
		if u.Latest.IP.IsValid() {
			ip = strPtr(u.Latest.IP.String())
		}
		var merged *string
		if len(u.Clients) > 0 {
			var old []apitoken.Client
			if s := clients[id]; s != nil {
				// A column that does not parse is replaced.
				_ = json.Unmarshal([]byte(*s), &old)
			}
			var err error
			if merged, err = jsonColumn(recentClients(apitoken.MergeClients(old, u.Clients))); err != nil {
				return nil, err
			}
		}
		args = append(args, id, dbTime(u.Latest.At), ip, merged)
	}
	return args, nil
}
