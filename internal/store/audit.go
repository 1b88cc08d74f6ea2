package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/audit"
)

// auditRow is a row of audit_events.
type auditRow struct {
	Seq          int64     `gorm:"column:seq;primaryKey;autoIncrement:false"`
	ID           string    `gorm:"column:id"`
	OccurredAt   time.Time `gorm:"column:occurred_at"`
	Action       string    `gorm:"column:action"`
	ActorUserID  *string   `gorm:"column:actor_user_id"`
	ActorTokenID *string   `gorm:"column:actor_token_id"`
	TargetType   string    `gorm:"column:target_type"`
	TargetID     string    `gorm:"column:target_id"`
	UserID       *string   `gorm:"column:user_id"`
	SourceIP     *string   `gorm:"column:source_ip"`
	UserAgent    *string   `gorm:"column:user_agent"`
	Changes      *string   `gorm:"column:changes"`
	PrevHash     []byte    `gorm:"column:prev_hash"`
	Hash         []byte    `gorm:"column:hash"`
}

func (auditRow) TableName() string { return "audit_events" }

// auditColumns are audit_events' columns, in auditRow's order.
var auditColumns = []string{"seq", "id", "occurred_at", "action", "actor_user_id", "actor_token_id",
	"target_type", "target_id", "user_id", "source_ip", "user_agent", "changes", "prev_hash", "hash"}

func (r *auditRow) values() []any {
	return []any{r.Seq, r.ID, r.OccurredAt, r.Action, r.ActorUserID, r.ActorTokenID, r.TargetType, r.TargetID,
		r.UserID, r.SourceIP, r.UserAgent, r.Changes, r.PrevHash, r.Hash}
}

// newAuditRow returns the row of a sealed event whose changes encode as
// changes.
func newAuditRow(e *audit.Event, changes []byte) auditRow {
	r := auditRow{
		Seq: e.Seq, ID: e.ID, OccurredAt: dbTime(e.OccurredAt), Action: string(e.Action),
		ActorUserID: strPtr(e.ActorUserID), ActorTokenID: strPtr(e.ActorTokenID),
		TargetType: e.TargetType, TargetID: e.TargetID, UserID: strPtr(e.UserID),
		SourceIP: strPtr(e.SourceIP), UserAgent: strPtr(e.UserAgent), PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if changes != nil {
		r.Changes = strPtr(string(changes))
	}
	return r
}

func (r *auditRow) event() (audit.Event, error) {
	e := audit.Event{
		Seq: r.Seq, ID: r.ID, OccurredAt: r.OccurredAt.UTC(), Action: audit.Action(r.Action),
		ActorUserID: deref(r.ActorUserID), ActorTokenID: deref(r.ActorTokenID),
		TargetType: r.TargetType, TargetID: r.TargetID, UserID: deref(r.UserID),
		SourceIP: deref(r.SourceIP), UserAgent: deref(r.UserAgent), PrevHash: r.PrevHash, Hash: r.Hash,
	}
	var err error
	if r.Changes != nil {
		e.Changes, err = audit.DecodeChanges([]byte(*r.Changes))
	}
	return e, err
}

// chainRow is audit_chain's one row.
type chainRow struct {
	ID            int    `gorm:"column:id;primaryKey"`
	HeadSeq       int64  `gorm:"column:head_seq"`
	HeadHash      []byte `gorm:"column:head_hash"`
	StartSeq      int64  `gorm:"column:start_seq"`
	StartPrevHash []byte `gorm:"column:start_prev_hash"`
}

func (chainRow) TableName() string { return "audit_chain" }

// auditRowsPerStatement is the most events one INSERT writes: 14
// parameters each, within both databases' bounds on parameters.
const auditRowsPerStatement = 1000

// appendEvents appends the events to the audit log in the transaction tx.
// In a transaction of the store (InTx, tx), which every change of the
// store runs in, the events are appended when the transaction's work is
// done, just before it commits, with those of the other changes it made:
// one lock of the chain's head, taken last, and one INSERT. On any other
// handle they are appended at once.
func (s *Store) appendEvents(tx *gorm.DB, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	if st, ok := tx.Statement.Context.Value(txKey{s}).(*txState); ok {
		st.events = append(st.events, events...)
		return nil
	}
	_, err := s.writeEvents(tx, events...)
	return err
}

// writeEvents locks the chain's head in the transaction tx, until it
// ends, numbers and hashes the events after it, in order, writes them and
// moves the head past them. It returns the events as written. Holding the
// head's lock until the commit makes seq follow commit order.
func (s *Store) writeEvents(tx *gorm.DB, events ...audit.Event) ([]audit.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var head struct {
		HeadSeq  int64
		HeadHash []byte
	}
	if err := tx.Raw(s.headQuery()).Scan(&head).Error; err != nil {
		return nil, err
	}
	out, rows, err := sealEvents(events, head.HeadSeq, head.HeadHash)
	if err != nil {
		return nil, err
	}
	last := &out[len(out)-1]
	for chunk := range slices.Chunk(rows, auditRowsPerStatement) {
		q, args := insertAuditSQL(chunk, "?")
		final := &chunk[len(chunk)-1] == &rows[len(rows)-1]
		if final && s.dialect == Postgres {
			// The rows and the head in one round trip.
			q = "WITH e AS (" + q + ") UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1"
			args = append(args, last.Seq, last.Hash)
		}
		if err := tx.Exec(q, args...).Error; err != nil {
			return nil, err
		}
		if final && s.dialect == SQLite {
			err := tx.Exec("UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1", last.Seq, last.Hash).Error
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// headQuery returns the statement that reads the chain's head and locks
// it until the transaction ends (an SQLite transaction holds the write
// lock already).
func (s *Store) headQuery() string {
	const q = "SELECT head_seq, head_hash FROM audit_chain WHERE id = 1"
	if s.dialect == SQLite {
		return q
	}
	return q + " FOR UPDATE"
}

// sealEvents numbers and hashes copies of the events after the head
// (headSeq, headHash), in order, filling in their ids and times where
// empty, and returns them with their rows.
func sealEvents(events []audit.Event, headSeq int64, headHash []byte) ([]audit.Event, []auditRow, error) {
	out := slices.Clone(events)
	rows := make([]auditRow, len(out))
	now := dbTime(time.Now())
	prev := headHash
	for i := range out {
		e := &out[i]
		if e.ID == "" {
			e.ID = uuid.Must(uuid.NewV7()).String()
		}
		if e.OccurredAt.IsZero() {
			e.OccurredAt = now
		}
		e.OccurredAt = dbTime(e.OccurredAt)
		if e.Action == "" || e.TargetType == "" || e.TargetID == "" {
			return nil, nil, errors.New("store: an audit event needs an action and a target")
		}
		changes, err := e.Seal(headSeq+int64(i)+1, prev)
		if err != nil {
			return nil, nil, err
		}
		prev = e.Hash
		rows[i] = newAuditRow(e, changes)
	}
	return out, rows, nil
}

// insertAuditSQL returns the INSERT of the rows and its arguments, with
// placeholders "?" (GORM's) or "$" (PostgreSQL's, numbered from $1).
func insertAuditSQL(rows []auditRow, placeholder string) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + strings.Join(auditColumns, ", ") + ") VALUES ")
	args := make([]any, 0, len(rows)*len(auditColumns))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		for j := range auditColumns {
			b.WriteString(pick(j == 0, "(", ", "))
			if placeholder == "$" {
				b.WriteString("$" + itoa(len(args)+j+1))
			} else {
				b.WriteString("?")
			}
		}
		b.WriteString(")")
		args = append(args, rows[i].values()...)
	}
	return b.String(), args
}

// AppendEvents appends events that go with no other change to the audit
// log, in one transaction (the caller's, within InTx).
func (s *Store) AppendEvents(ctx context.Context, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.InTx(ctx, func(ctx context.Context) error { return s.appendEvents(s.conn(ctx), events...) })
}

// OnAudit has fn learn of the events every transaction appended, in seq
// order, once the transaction committed; fn must not block. Events
// appended by a replica are learnt of on that replica only (a reader of
// every replica's events follows seq instead).
func (s *Store) OnAudit(fn func([]audit.Event)) {
	for {
		old := s.auditSinks.Load()
		var next []func([]audit.Event)
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, fn)
		if s.auditSinks.CompareAndSwap(old, &next) {
			return
		}
	}
}

// published hands committed events to the sinks of OnAudit.
func (s *Store) published(events []audit.Event) {
	sinks := s.auditSinks.Load()
	if sinks == nil {
		return
	}
	for _, fn := range *sinks {
		fn(events)
	}
}
