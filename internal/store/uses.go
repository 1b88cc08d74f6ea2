package store

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

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
	lock := ""
	if ts.s.dialect == Postgres {
		// The UPDATE locks rows in whatever order its plan meets them;
		// taking the locks first, sorted, fixes the order.
		lock = " FOR UPDATE"
	}
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(ids, maxRowsPerStatement) {
			stored, err := storedClients(tx, "SELECT id, recent_clients FROM api_tokens WHERE id IN ? ORDER BY id"+lock, chunk)
			if err != nil {
				return err
			}
			if err := tx.Exec(ts.recordUsesSQL(len(chunk)), useArgs(chunk, uses, stored)...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return ts.s.wrap(ctx, err, "")
}

// storedClients runs the query q, which selects tokens' ids and recent
// clients, and returns the clients by token id. It scans plain values:
// GORM's reflection was a fifth of a flush's time.
func storedClients(tx *gorm.DB, q string, args ...any) (map[string]string, error) {
	rows, err := tx.Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var clients sql.NullString
		if err := rows.Scan(&id, &clients); err != nil {
			return nil, err
		}
		out[id] = clients.String
	}
	return out, rows.Err()
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
func useArgs(ids []string, uses map[string]apitoken.Usage, stored map[string]string) []any {
	args := make([]any, 0, 4*len(ids))
	for _, id := range ids {
		u := uses[id]
		var ip, merged *string
		if u.Latest.IP.IsValid() {
			ip = strPtr(u.Latest.IP.String())
		}
		if len(u.Clients) > 0 {
			merged = encodeClients(apitoken.MergeClients(decodeClients(stored[id]), u.Clients))
		}
		args = append(args, id, dbTime(u.Latest.At), ip, merged)
	}
	return args
}

// Recent clients are stored as lines, newest first, each the time of the
// use in Unix milliseconds, the address and the user agent, separated by
// tabs: a user agent as tokend keeps it holds neither tabs nor newlines
// (apitoken.CleanUserAgent). Every flush of uses reads and writes them
// within its transaction, so they are kept in a form far cheaper to read
// and write than JSON (which took a fifth of a flush).

// encodeClients returns the column of the clients, nil for none.
func encodeClients(cs []apitoken.Client) *string {
	if len(cs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(strconv.FormatInt(dbTime(c.At).UnixMilli(), 10))
		b.WriteByte('\t')
		b.WriteString(c.IP)
		b.WriteByte('\t')
		b.WriteString(c.UserAgent)
		b.WriteByte('\n')
	}
	s := b.String()
	return &s
}

// decodeClients reads the column of clients; a line that does not parse
// is left out.
func decodeClients(s string) []apitoken.Client {
	var out []apitoken.Client
	for line := range strings.Lines(s) {
		ms, rest, ok1 := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		ip, ua, ok2 := strings.Cut(rest, "\t")
		n, err := strconv.ParseInt(ms, 10, 64)
		if ok1 && ok2 && err == nil && ip != "" {
			out = append(out, apitoken.Client{IP: ip, UserAgent: ua, At: time.UnixMilli(n).UTC()})
		}
	}
	return out
}
