package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/audit"
)

// Creations far from their user's cap are gathered on PostgreSQL: the
// CreateBelow calls that arrive while a batch is being written wait, and
// go together into the next one, a single statement and so a single
// transaction and a single commit for all of them. This is group commit:
// under load a creation costs a share of a round trip and of a flush
// instead of a whole one, and a lone creation is written at once, as
// before.
//
// One writer writes the batches, one after the other: a creation counted
// in a batch sees those of every batch before it, and the writer knows the
// head of the audit chain as its last batch left it, which makes a batch
// one round trip (createpipeline.go).
const createBatchMax = 16

// createBatcher gathers CreateBelow calls into batches.
type createBatcher struct {
	mu      sync.Mutex
	queue   []*pendingCreate
	writing bool // the writer runs
	// head is the audit chain's head as the writer's last batch left it,
	// if known; skip is how many batches the writer writes in two round
	// trips before it tries one again, and backoff what skip was set to
	// after the last refusal. Only the writer reads and writes them, and
	// b.mu hands them from one writer to the next.
	head          *chainHead
	skip, backoff int
	hooks         batchHooks
}

// batchHooks are the tests' hooks into the batches (export_test.go),
// read and set under the batcher's lock: gate, when set, holds the writer
// before it takes a batch; onQueued learns of every creation queued,
// onBatch of every batch taken, with its size, and onWrite of how every
// batch written was: in one round trip or in two.
type batchHooks struct {
	gate     chan struct{}
	onQueued func()
	onBatch  func(n int)
	onWrite  func(oneTrip bool)
}

// pendingCreate is a creation waiting for its batch.
type pendingCreate struct {
	row   tokenRow
	actor audit.Actor // whose creation it is, for its event
	below int64
	now   time.Time
	done  chan createResult // buffered: the writer never waits for the caller
}

// createResult is a creation's outcome. alone asks the caller to write
// the creation by itself: its batch failed, and a creation of another
// caller may be the cause.
type createResult struct {
	created bool
	alone   bool
	err     error
}

// createBelowBatched stores the row, with the others of its batch, if its
// user holds fewer than below live tokens at now. A caller whose context
// ends while its creation is queued leaves the queue, and nothing is
// written; once its batch is being written, it waits for the outcome,
// which the batch's own deadline bounds, so that its answer is true.
func (ts *Tokens) createBelowBatched(ctx context.Context, row tokenRow, now time.Time, below int64) (bool, error) {
	if ts.s.health.down.Load() {
		return false, errDown
	}
	b := &ts.batch
	p := &pendingCreate{row: row, actor: audit.ActorFrom(ctx), below: below, now: now, done: make(chan createResult, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	start := !b.writing
	b.writing = true
	onQueued := b.hooks.onQueued
	b.mu.Unlock()
	if start {
		go ts.writeBatches()
	}
	if onQueued != nil {
		onQueued()
	}
	var r createResult
	select {
	case r = <-p.done:
	case <-ctx.Done():
		if b.withdraw(p) {
			return false, ts.s.wrap(ctx, ctx.Err(), "")
		}
		r = <-p.done
	}
	if r.alone {
		return ts.createBelowAlone(ctx, p)
	}
	return r.created, r.err
}

// withdraw takes p out of the queue, and reports whether it was still
// there.
func (b *createBatcher) withdraw(p *pendingCreate) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == p {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// take removes the next batch from the queue, and returns it with the
// hooks; with none left, the writer stops.
func (b *createBatcher) take() ([]*pendingCreate, batchHooks) {
	b.mu.Lock()
	gate := b.hooks.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), createBatchMax)
	if n == 0 {
		b.writing = false
		return nil, b.hooks
	}
	batch := make([]*pendingCreate, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	return batch, b.hooks
}

// writeBatches writes batches until the queue is empty.
func (ts *Tokens) writeBatches() {
	for {
		batch, hooks := ts.batch.take()
		if batch == nil {
			return
		}
		if hooks.onBatch != nil {
			hooks.onBatch(len(batch))
		}
		created, oneTrip, err := ts.insertBatch(batch)
		if hooks.onWrite != nil && err == nil {
			hooks.onWrite(oneTrip)
		}
		for _, p := range batch {
			switch {
			case err == nil:
				p.done <- createResult{created: created[p.row.ID]}
			case len(batch) > 1 && !errors.Is(err, ErrOutage):
				// One creation may have failed them all: each is written
				// again by itself, so that it fails alone.
				p.done <- createResult{alone: true}
			default:
				p.done <- createResult{err: err}
			}
		}
	}
}

// createBelowAlone writes p by itself, within the caller's context.
func (ts *Tokens) createBelowAlone(ctx context.Context, p *pendingCreate) (bool, error) {
	created, err := ts.insertBelow(ctx, []*pendingCreate{p})
	return created[p.row.ID], err
}

// insertBelow writes the batch in one statement (createBelowSQL), and the
// events of the tokens it stored, within ctx's transaction if it carries
// one, and returns the ids of those tokens. The events of a whole batch
// take one lock of the audit chain's head and one INSERT (appendEvents).
func (ts *Tokens) insertBelow(ctx context.Context, batch []*pendingCreate) (map[string]bool, error) {
	cols := createBelowColumns{}
	for _, p := range batch {
		cols.add(p)
	}
	var created map[string]bool
	err := ts.s.transact(ctx, func(ctx context.Context) error {
		created = make(map[string]bool, len(batch))
		tx := ts.s.conn(ctx)
		rows, err := tx.Statement.ConnPool.QueryContext(ctx, createBelowSQL, cols.args(false)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			created[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		events := make([]audit.Event, 0, len(created))
		for _, p := range batch {
			if created[p.row.ID] {
				events = append(events, tokenCreated(p.actor, &p.row))
			}
		}
		return ts.s.appendEvents(tx, events...)
	})
	if err != nil {
		return nil, ts.s.wrap(ctx, err, "")
	}
	return created, nil
}

// createBelowColumns are a batch's values, a slice per column of
// createBelowSQL's unnest.
type createBelowColumns struct {
	id, userID, description, scope []string
	expiration                     []time.Time
	sourceIP, resources            []*string
	enabled                        []bool
	revokedAt, lastUsedAt          []*time.Time
	lastUsedIP                     []*string
	keyID                          []string
	hash                           [][]byte
	createdAt, updatedAt, claimExp []time.Time
	below                          []int64
	class                          []int16
	day, today                     []int64
	dayStart, now                  []time.Time
}

func (c *createBelowColumns) add(p *pendingCreate) {
	r := &p.row
	k := countKeyOf(r)
	now := dbTime(p.now)
	today := unixDay(now)
	c.id, c.userID = append(c.id, r.ID), append(c.userID, r.UserID)
	c.description, c.scope = append(c.description, r.Description), append(c.scope, r.Scope)
	c.expiration = append(c.expiration, r.Expiration)
	c.sourceIP, c.resources = append(c.sourceIP, r.SourceIP), append(c.resources, r.Resources)
	c.enabled = append(c.enabled, r.Enabled)
	c.revokedAt, c.lastUsedAt = append(c.revokedAt, r.RevokedAt), append(c.lastUsedAt, r.LastUsedAt)
	c.lastUsedIP, c.keyID = append(c.lastUsedIP, r.LastUsedIP), append(c.keyID, r.KeyID)
	c.hash = append(c.hash, r.TokenHash)
	c.createdAt, c.updatedAt = append(c.createdAt, r.CreatedAt), append(c.updatedAt, r.UpdatedAt)
	c.claimExp = append(c.claimExp, r.ClaimExpiration)
	c.below, c.class, c.day = append(c.below, p.below), append(c.class, k.class), append(c.day, k.day)
	c.today, c.dayStart = append(c.today, today), append(c.dayStart, time.Unix(today*86400, 0).UTC())
	c.now = append(c.now, now)
}

// args returns createBelowSQL's arguments: the columns in its order, and
// whether a creation that does not fit fails the statement (strict) or is
// left out.
func (c *createBelowColumns) args(strict bool) []any {
	return []any{c.id, c.userID, c.description, c.scope, c.expiration, c.sourceIP, c.resources, c.enabled,
		c.revokedAt, c.lastUsedAt, c.lastUsedIP, c.keyID, c.hash, c.createdAt, c.updatedAt, c.claimExp,
		c.below, c.class, c.day, c.today, c.dayStart, c.now, strict}
}

// createdColumns are the columns of api_tokens a creation gives values:
// those of copyColumns before change_seq, which is 0. Those after it
// (rotation, leaks, recent clients) a new token far from its cap never
// has; a rotation stores its token with Create.
var createdColumns = copyColumns[:slices.Index(copyColumns, "change_seq")]

// createBelowSQL writes a batch of tokens and their count changes, each
// token only if its user's live tokens (liveSQL), plus those of the
// user's earlier in the batch, are fewer than its bound. A user's tokens
// are counted once, at the batch's earliest creation time for the user:
// tokens only ever stop being live as time passes, so that count is never
// lower than a later one, and a token near its bound is at worst counted
// again under the user's lock (service's issue). With $23 (strict), a
// token that does not fit fails the statement instead, with SQLSTATE
// TK001 (tokend_expect): every token is checked on its way into the
// INSERT, whatever plan PostgreSQL chose. One statement is one
// transaction: all of it is written, or none.
var createBelowSQL = `
WITH a AS MATERIALIZED (
    SELECT $1::text[]::uuid[] AS id, $2::text[]::uuid[] AS user_id, $3::text[] AS description, $4::text[] AS scope,
        $5::timestamptz[] AS expiration, $6::text[] AS source_ip, $7::text[] AS resources, $8::boolean[] AS enabled,
        $9::timestamptz[] AS revoked_at, $10::timestamptz[] AS last_used_at, $11::text[] AS last_used_ip,
        $12::text[] AS key_id, $13::bytea[] AS token_hash, $14::timestamptz[] AS created_at,
        $15::timestamptz[] AS updated_at, $16::timestamptz[] AS claim_expiration, $17::bigint[] AS below,
        $18::smallint[] AS class, $19::bigint[] AS day, $20::bigint[] AS today, $21::timestamptz[] AS day_start,
        $22::timestamptz[] AS now
), v AS (
    SELECT u.* FROM a, unnest(a.id, a.user_id, a.description, a.scope, a.expiration, a.source_ip, a.resources,
        a.enabled, a.revoked_at, a.last_used_at, a.last_used_ip, a.key_id, a.token_hash, a.created_at,
        a.updated_at, a.claim_expiration, a.below, a.class, a.day, a.today, a.day_start, a.now)
    WITH ORDINALITY AS u (` + strings.Join(createdColumns, ", ") + `,
        below, class, day, today, day_start, now, ord)
), earliest AS (
    SELECT DISTINCT ON (user_id) user_id, today, day_start, now FROM v ORDER BY user_id, now
), live AS MATERIALIZED (
    SELECT e.user_id, ` + liveExpr("e.user_id", "e.user_id::text", "e.today", "e.day_start", "e.now") + ` AS n
    FROM earliest e
), fit AS (
    SELECT v.*, live.n + row_number() OVER (PARTITION BY v.user_id ORDER BY v.ord) - 1 < v.below AS fits
    FROM v JOIN live USING (user_id)
), t AS (
    INSERT INTO api_tokens (` + strings.Join(createdColumns, ", ") + `, change_seq)
    SELECT ` + strings.Join(createdColumns, ", ") + `, 0 FROM fit
    WHERE CASE WHEN fits THEN true
        WHEN tokend_expect(NOT $23::boolean, 'a creation of the batch does not fit under its user''s cap') THEN false END
    RETURNING id
), c AS (
    INSERT INTO token_count_changes (user_id, class, day, n)
    SELECT v.user_id::text, v.class, v.day, count(*) FROM t JOIN v USING (id) GROUP BY 1, 2, 3
)
SELECT id::text FROM t`
