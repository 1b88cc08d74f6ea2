package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// bulkChunk is how many tokens BulkCreate writes in one transaction (a
// variable for the tests).
var bulkChunk = 20_000

// bulkTimeout bounds one chunk's transaction: far longer than the
// deadline of the API's calls, for a loader that writes many rows at once.
const bulkTimeout = 2 * time.Minute

// BulkCreate stores many tokens' metadata fast, for seeding databases
// (benchmarks, imports): COPY on PostgreSQL, batched INSERTs in one
// transaction per chunk on SQLite. Each chunk takes one change number, so
// that the revoked and disabled tokens among them reach the revocation
// feed. The tokens' users and keys must exist.
func (ts *Tokens) BulkCreate(ctx context.Context, tokens []apitoken.Token) error {
	for len(tokens) > 0 {
		chunk := tokens[:min(bulkChunk, len(tokens))]
		tokens = tokens[len(chunk):]
		rows := make([]tokenRow, len(chunk))
		for i := range chunk {
			var err error
			if rows[i], err = newTokenRow(&chunk[i]); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, bulkTimeout)
		var err error
		if ts.s.dialect == Postgres {
			err = ts.copyRows(cctx, rows)
		} else {
			err = ts.insertRows(cctx, rows)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("store: bulk create: %w", err)
		}
	}
	return nil
}

// insertRows writes rows in one transaction, with one prepared INSERT.
func (ts *Tokens) insertRows(ctx context.Context, rows []tokenRow) error {
	return ts.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		seq, err := ts.s.nextChange(tx)
		if err != nil {
			return err
		}
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("no SQL transaction")
		}
		stmt, err := sqlTx.PrepareContext(ctx, "INSERT INTO api_tokens ("+strings.Join(copyColumns, ", ")+") VALUES (?"+strings.Repeat(", ?", len(copyColumns)-1)+")")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range rows {
			if _, err := stmt.ExecContext(ctx, rowValues(&rows[i], seq)...); err != nil {
				return err
			}
		}
		return recordCounts(tx, nil, rows)
	})
}

// rowValues returns the row's values in copyColumns' order, with the
// change number seq.
func rowValues(r *tokenRow, seq int64) []any {
	return []any{r.ID, r.UserID, r.Description, r.Scope, r.Expiration, r.SourceIP, r.Resources, r.Enabled,
		r.RevokedAt, r.LastUsedAt, r.LastUsedIP, r.KeyID, r.TokenHash, r.CreatedAt, r.UpdatedAt, r.ClaimExpiration, seq,
		r.RotatedFrom, r.RotatedTo, r.RetirePrevious, r.LeakedAt, r.LeakURL, r.LeakSource, r.RecentClients}
}

// copyColumns are the columns copyRows writes, in order.
var copyColumns = []string{"id", "user_id", "description", "scope", "expiration", "source_ip", "resources", "enabled",
	"revoked_at", "last_used_at", "last_used_ip", "key_id", "token_hash", "created_at", "updated_at", "claim_expiration", "change_seq",
	"rotated_from", "rotated_to", "retire_previous_on_use", "leaked_at", "leak_url", "leak_source", "recent_clients"}

// copyRows writes rows with COPY, in one transaction on a connection of
// the pool taken over for it.
func (ts *Tokens) copyRows(ctx context.Context, rows []tokenRow) error {
	c, err := ts.s.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("the PostgreSQL connection is not pgx's")
		}
		return pgx.BeginFunc(ctx, sc.Conn(), func(tx pgx.Tx) error {
			var seq int64
			if err := tx.QueryRow(ctx, "UPDATE change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&seq); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", ChangeChannel, fmt.Sprint(seq)); err != nil {
				return err
			}
			src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rowValues(&rows[i], seq), nil })
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"api_tokens"}, copyColumns, src); err != nil {
				return err
			}
			counts := countsOf(nil, rows)
			src = pgx.CopyFromSlice(len(counts), func(i int) ([]any, error) {
				c := counts[i]
				return []any{c.UserID, c.Class, c.Day, c.N}, nil
			})
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"token_count_changes"}, []string{"user_id", "class", "day", "n"}, src)
			return err
		})
	})
}
