package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokend/tokend/internal/audit"
)

// A batch of creations on PostgreSQL is written with its audit events in
// one transaction of two round trips, pipelined on a connection of the
// pool taken over for it (pgx's batches):
//
//  1. BEGIN; createBelowSQL: the tokens and their counts; and
//     lockHeadSQL: the lock of the audit chain's head, which it returns;
//  2. the events, numbered and hashed in Go after the head, in one INSERT
//     that moves the head too; and COMMIT, asynchronous (asyncCommit).
//
// The flusher then waits for the flush (flushWALSQL) on a connection of
// its own, once for every batch committed since its last wait, while the
// writer writes the next batch.
//
// Through database/sql the same transaction took five round trips (BEGIN,
// the batch, the head, the events, COMMIT), each a write and a read of
// the network for both sides.

// lockHeadSQL locks the audit chain's head until the transaction ends,
// makes its commit asynchronous, and returns the head. It is a statement
// of its own after createBelowSQL, not a part of it, so that the head is
// the last lock the transaction takes: the foreign-key checks of the
// tokens inserted, which lock their users' rows (FOR KEY SHARE), run at
// the end of createBelowSQL, and a creation near its user's cap locks that
// row before it waits for the head. In one statement PostgreSQL may lock
// the head first, and the two deadlock.
var lockHeadSQL = "SELECT head_seq, head_hash, " + asyncCommit + " FROM audit_chain WHERE id = 1 FOR UPDATE"

// insertBatch writes a batch of creations and their events (see above),
// within a deadline of its own, and returns the ids of the tokens it
// stored and their events. The commit is asynchronous: the batch is
// durable once flushWAL returns after it.
func (ts *Tokens) insertBatch(batch []*pendingCreate) (map[string]bool, []audit.Event, error) {
	ctx, done, err := ts.s.begin(context.Background())
	if err != nil {
		return nil, nil, err
	}
	defer done()
	cols := createBelowColumns{}
	for _, p := range batch {
		cols.add(p)
	}
	c, err := ts.s.SQL().Conn(ctx)
	if err != nil {
		return nil, nil, ts.s.wrap(ctx, err, "")
	}
	defer c.Close()
	var created map[string]bool
	var events []audit.Event
	err = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("store: the PostgreSQL connection is not pgx's")
		}
		conn := sc.Conn()
		var err error
		created, events, err = writeBatch(ctx, conn, batch, cols.args())
		if err != nil && !conn.IsClosed() {
			// The transaction may be open still: roll it back, or drop
			// the connection rather than return it to the pool in a
			// transaction.
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
				conn.Close(rctx)
			}
			cancel()
		}
		return err
	})
	if err != nil {
		return nil, nil, ts.s.wrap(ctx, err, "")
	}
	return created, events, nil
}

// flushWAL waits until the WAL is flushed past every commit before it
// (flushWALSQL), within a deadline of its own. Its error has
// errUnconfirmed in its chain.
func (ts *Tokens) flushWAL() error {
	ctx, done, err := ts.s.begin(context.Background())
	if err == nil {
		defer done()
		_, err = ts.s.SQL().ExecContext(ctx, cmp.Or(ts.s.flushSQL, flushWALSQL))
	}
	if err != nil {
		return ts.s.wrap(ctx, fmt.Errorf("%w: %w", errUnconfirmed, err), "")
	}
	return nil
}

// writeBatch runs the two round trips of insertBatch on conn.
func writeBatch(ctx context.Context, conn *pgx.Conn, batch []*pendingCreate, args []any) (map[string]bool, []audit.Event, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(createBelowSQL, args...)
	b.Queue(lockHeadSQL)
	res := conn.SendBatch(ctx, b)
	created := make(map[string]bool, len(batch))
	var headSeq int64
	var headHash []byte
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
		var async string
		err = res.QueryRow().Scan(&headSeq, &headHash, &async)
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	if len(created) == 0 {
		_, err := conn.Exec(ctx, "COMMIT")
		return created, nil, err
	}
	events := make([]audit.Event, 0, len(created))
	for _, p := range batch {
		if created[p.row.ID] {
			events = append(events, tokenCreated(p.actor, &p.row))
		}
	}
	events, rows, err := sealEvents(events, headSeq, headHash)
	if err != nil {
		return nil, nil, err
	}
	q, qargs := insertAuditSQL(rows, "$")
	last := &events[len(events)-1]
	n := len(qargs)
	q = "WITH e AS (" + q + ") UPDATE audit_chain SET head_seq = $" + itoa(n+1) + ", head_hash = $" + itoa(n+2) + " WHERE id = 1"
	// The commit is asynchronous (asyncCommit), and releases the head at
	// once; the flusher waits for the flush.
	b = &pgx.Batch{}
	b.Queue(q, append(qargs, last.Seq, last.Hash)...)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	return created, events, nil
}

// errUnconfirmed is in the chain of the error of a batch that committed
// but whose wait for the flush failed: its tokens are stored, perhaps not
// durably, and are not written again one by one.
var errUnconfirmed = errors.New("store: the batch committed, its flush was not confirmed")
