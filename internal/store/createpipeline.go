package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokend/tokend/internal/audit"
)

// A batch of creations on PostgreSQL is written with its audit events in
// one transaction, pipelined on a connection of the pool taken over for it
// (pgx's batches). The writer knows the audit chain's head as its last
// batch left it, and so numbers and hashes the events of every token of
// the batch before it writes anything: the transaction is one round trip,
//
//	BEGIN; createBelowSQL; appendBatchSQL; COMMIT
//
// createBelowSQL stores the tokens and their counts, on the condition
// (strict) that every one fits under its user's cap; appendBatchSQL writes
// the events and moves the head past them, on the condition that the head
// is the one the writer knows. Either fails the transaction otherwise
// (SQLSTATE TK001): a creation did not fit, or another transaction
// appended events since. The writer then writes the batch in two round
// trips: BEGIN; createBelowSQL, leaving out the creations that do not
// fit; the head, locked (lockHeadSQL) — and the events of the tokens
// stored, numbered after that head, with COMMIT. While other transactions
// keep moving the head (other replicas creating tokens, say) the writer
// backs off: it writes more and more batches in two round trips before it
// tries one again (writeBatch). Both conditions are checked row by row in
// the statements that write, so that no plan PostgreSQL may choose makes
// them read a table.
//
// The head is the last lock the transaction takes, in a statement of its
// own after createBelowSQL: the foreign-key checks of the tokens inserted,
// which lock their users' rows (FOR KEY SHARE), run at the end of
// createBelowSQL, and a creation near its user's cap locks that row
// before it waits for the head. In one statement PostgreSQL may lock the
// head first, and the two deadlock. The commit is synchronous: the head
// is held through the flush of one commit a batch, which only other
// replicas and changes of state wait for.

// chainHead is the audit chain's head: its last event's seq and hash.
type chainHead struct {
	seq  int64
	hash []byte
}

// lockHeadSQL locks the audit chain's head until the transaction ends, and
// returns it.
const lockHeadSQL = "SELECT head_seq, head_hash FROM audit_chain WHERE id = 1 FOR UPDATE"

// appendBatchSQL writes a batch's events and moves the head past them if
// the head is ($3, $4), and raises SQLSTATE TK001 otherwise (tokend_expect,
// migration 0010).
var appendBatchSQL = `
WITH h AS (
    UPDATE audit_chain SET head_seq = $1, head_hash = $2
    WHERE id = 1 AND head_seq = $3 AND head_hash = $4
    RETURNING 1
), e AS (
    INSERT INTO audit_events (` + strings.Join(auditColumns, ", ") + `)
    SELECT u.* FROM h, unnest($5::bigint[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[],
        $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bytea[], $18::bytea[]) AS u
)
SELECT tokend_expect(EXISTS (SELECT 1 FROM h), 'the audit chain''s head moved')`

// refusedCode is the SQLSTATE of a batch written in one round trip whose
// conditions do not hold (tokend_expect).
const refusedCode = "TK001"

// insertBatch writes a batch of creations and their events (see above),
// within a deadline of its own, and returns the ids of the tokens it
// stored, and whether it took one round trip. The events are published
// once committed.
func (ts *Tokens) insertBatch(batch []*pendingCreate) (created map[string]bool, oneTrip bool, err error) {
	ctx, done, err := ts.s.begin(context.Background())
	if err != nil {
		return nil, false, err
	}
	defer done()
	cols := createBelowColumns{}
	for _, p := range batch {
		cols.add(p)
	}
	c, err := ts.s.SQL().Conn(ctx)
	if err != nil {
		return nil, false, ts.s.wrap(ctx, err, "")
	}
	defer c.Close()
	var events []audit.Event
	err = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("store: the PostgreSQL connection is not pgx's")
		}
		var err error
		created, events, oneTrip, err = ts.writeBatch(ctx, sc.Conn(), batch, &cols)
		return err
	})
	if err != nil {
		return nil, false, ts.s.wrap(ctx, err, "")
	}
	if len(events) > 0 {
		ts.s.published(events)
	}
	return created, oneTrip, nil
}

// maxBackoff is the most batches the writer writes in two round trips,
// after a refusal, before it tries one again.
const maxBackoff = 64

// writeBatch writes the batch on conn, in one round trip if the writer
// knows the head and is not backing off, in two otherwise, and returns the
// ids of the tokens it stored, their events as written, and whether it
// took one round trip. Each refusal of one round trip in a row doubles
// how many batches the writer then writes in two (up to maxBackoff), so
// that while other replicas keep moving the head, batches seldom pay for
// a refused attempt; one accepted resets it.
func (ts *Tokens) writeBatch(ctx context.Context, conn *pgx.Conn, batch []*pendingCreate, cols *createBelowColumns) (map[string]bool, []audit.Event, bool, error) {
	b := &ts.batch
	if b.head != nil && b.skip == 0 {
		created := make(map[string]bool, len(batch))
		for _, p := range batch {
			created[p.row.ID] = true
		}
		events, err := appendBatch(ctx, conn, batch, created, cols.args(true), *b.head)
		if err == nil {
			next := headAfter(events, *b.head)
			b.head, b.backoff = &next, 0
			return created, events, true, nil
		}
		if !rollback(conn) || !isRefused(err) {
			return nil, nil, false, err
		}
		b.backoff = min(max(2*b.backoff, 1), maxBackoff)
		b.skip = b.backoff
	} else if b.skip > 0 {
		b.skip--
	}
	head, created, err := lockBatch(ctx, conn, cols.args(false))
	if err == nil {
		var events []audit.Event
		if events, err = appendBatch(ctx, conn, batch, created, nil, head); err == nil {
			next := headAfter(events, head)
			b.head = &next
			return created, events, false, nil
		}
	}
	rollback(conn)
	b.head = nil
	return nil, nil, false, err
}

// lockBatch begins the transaction, stores the batch's tokens (args) and
// their counts, and locks the head: the first round trip of two. It
// returns the head and the ids of the tokens stored.
func lockBatch(ctx context.Context, conn *pgx.Conn, args []any) (chainHead, map[string]bool, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(createBelowSQL, args...)
	b.Queue(lockHeadSQL)
	res := conn.SendBatch(ctx, b)
	created := map[string]bool{}
	var head chainHead
	_, err := res.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = res.Query(); err == nil {
			for rows.Next() {
				var id string
				if err = rows.Scan(&id); err != nil {
					break
				}
				created[id] = true
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if err == nil {
		err = res.QueryRow().Scan(&head.seq, &head.hash)
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	return head, created, err
}

// appendBatch writes the events of the batch's tokens in created after
// head with appendBatchSQL, and commits: the second round trip of two, in
// the transaction lockBatch began, or, given createBelowSQL's args, the
// whole transaction in one. It returns the events as written.
func appendBatch(ctx context.Context, conn *pgx.Conn, batch []*pendingCreate, created map[string]bool, args []any, head chainHead) ([]audit.Event, error) {
	events := make([]audit.Event, 0, len(created))
	for _, p := range batch {
		if created[p.row.ID] {
			events = append(events, tokenCreated(p.actor, &p.row))
		}
	}
	b := &pgx.Batch{}
	if args != nil {
		b.Queue("BEGIN")
		b.Queue(createBelowSQL, args...)
	}
	if len(events) > 0 {
		sealed, rows, err := sealEvents(events, head.seq, head.hash)
		if err != nil {
			return nil, err
		}
		events = sealed
		last := &events[len(events)-1]
		b.Queue(appendBatchSQL, append([]any{last.Seq, last.Hash, head.seq, head.hash}, auditArrays(rows)...)...)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return events, nil
}

// headAfter returns the head once events are appended after head.
func headAfter(events []audit.Event, head chainHead) chainHead {
	if len(events) == 0 {
		return head
	}
	last := &events[len(events)-1]
	return chainHead{seq: last.Seq, hash: last.Hash}
}

// rollback ends the transaction conn may still be in, and reports whether
// conn is usable; if the rollback fails, it closes conn rather than let it
// back into the pool in a transaction.
func rollback(conn *pgx.Conn) bool {
	if conn.IsClosed() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Close(ctx)
		return false
	}
	return true
}

// isRefused reports whether err is the refusal of a batch written in one
// round trip: a creation did not fit, or the head moved.
func isRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == refusedCode
}

// auditArrays returns the rows as appendBatchSQL's arrays, a slice per
// column in auditColumns' order.
func auditArrays(rows []auditRow) []any {
	n := len(rows)
	seq, id, occurred := make([]int64, n), make([]string, n), make([]time.Time, n)
	action, targetType, targetID := make([]string, n), make([]string, n), make([]string, n)
	actorUser, actorToken, user := make([]*string, n), make([]*string, n), make([]*string, n)
	sourceIP, userAgent, changes := make([]*string, n), make([]*string, n), make([]*string, n)
	prev, hash := make([][]byte, n), make([][]byte, n)
	for i := range rows {
		r := &rows[i]
		seq[i], id[i], occurred[i], action[i] = r.Seq, r.ID, r.OccurredAt, r.Action
		actorUser[i], actorToken[i], targetType[i], targetID[i] = r.ActorUserID, r.ActorTokenID, r.TargetType, r.TargetID
		user[i], sourceIP[i], userAgent[i], changes[i] = r.UserID, r.SourceIP, r.UserAgent, r.Changes
		prev[i], hash[i] = r.PrevHash, r.Hash
	}
	return []any{seq, id, occurred, action, actorUser, actorToken, targetType, targetID, user, sourceIP, userAgent,
		changes, prev, hash}
}
