package store

import (
	"cmp"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

type tokenRow struct {
	ID          string     `gorm:"column:id;primaryKey"`
	UserID      string     `gorm:"column:user_id"`
	Description string     `gorm:"column:description"`
	Scope       string     `gorm:"column:scope"`
	Expiration  time.Time  `gorm:"column:expiration"`
	SourceIP    *string    `gorm:"column:source_ip"`
	Resources   *string    `gorm:"column:resources"`
	Enabled     bool       `gorm:"column:enabled"`
	RevokedAt   *time.Time `gorm:"column:revoked_at"`
	LastUsedAt  *time.Time `gorm:"column:last_used_at"`
	LastUsedIP  *string    `gorm:"column:last_used_ip"`
	KeyID       string     `gorm:"column:key_id"`
	TokenHash   []byte     `gorm:"column:token_hash"`
	CreatedAt   time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt   time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
	// ClaimExpiration is the token's exp claim; ChangeSeq the number of
	// its latest change (see changes.go).
	ClaimExpiration time.Time `gorm:"column:claim_expiration"`
	ChangeSeq       int64     `gorm:"column:change_seq"`
	// The rotation links, the leak report and the recent clients (lines:
	// see encodeClients) of migration 0007.
	RotatedFrom    *string    `gorm:"column:rotated_from"`
	RotatedTo      *string    `gorm:"column:rotated_to"`
	RetirePrevious bool       `gorm:"column:retire_previous_on_use"`
	LeakedAt       *time.Time `gorm:"column:leaked_at"`
	LeakURL        *string    `gorm:"column:leak_url"`
	LeakSource     *string    `gorm:"column:leak_source"`
	RecentClients  *string    `gorm:"column:recent_clients"`
}

func (tokenRow) TableName() string { return "api_tokens" }

func newTokenRow(t *apitoken.Token) (tokenRow, error) {
	r := tokenRow{
		ID:          t.ID,
		UserID:      t.UserID,
		Description: t.Description,
		Scope:       t.Scope,
		Expiration:  dbTime(t.Expiration),
		SourceIP:    strPtr(t.SourceIP),
		Enabled:     t.Enabled,
		RevokedAt:   dbTimePtr(t.RevokedAt),
		LastUsedAt:  dbTimePtr(t.LastUsedAt),
		LastUsedIP:  strPtr(t.LastUsedIP),
		KeyID:       t.KeyID,
		TokenHash:   t.Hash,
		CreatedAt:   dbTime(t.CreatedAt),
		UpdatedAt:   dbTime(t.UpdatedAt),

		ClaimExpiration: dbTime(t.ClaimExpiration),

		RotatedFrom:    strPtr(t.RotatedFrom),
		RotatedTo:      strPtr(t.RotatedTo),
		RetirePrevious: t.RetirePrevious,
		LeakedAt:       dbTimePtr(t.LeakedAt),
		LeakURL:        strPtr(t.LeakURL),
		LeakSource:     strPtr(t.LeakSource),
	}
	if r.ClaimExpiration.IsZero() {
		r.ClaimExpiration = r.Expiration
	}
	r.RecentClients = encodeClients(t.RecentClients)
	if len(t.Resources) > 0 {
		b, err := json.Marshal(t.Resources)
		if err != nil {
			return r, err
		}
		r.Resources = strPtr(string(b))
	}
	return r, nil
}

// normalized returns the row with its times as dbTime stores them, for
// comparing rows.
func (r tokenRow) normalized() tokenRow {
	r.Expiration, r.ClaimExpiration = dbTime(r.Expiration), dbTime(r.ClaimExpiration)
	r.CreatedAt, r.UpdatedAt = dbTime(r.CreatedAt), dbTime(r.UpdatedAt)
	r.RevokedAt, r.LastUsedAt, r.LeakedAt = dbTimePtr(r.RevokedAt), dbTimePtr(r.LastUsedAt), dbTimePtr(r.LeakedAt)
	return r
}

func (r *tokenRow) token() (apitoken.Token, error) {
	t := apitoken.Token{
		ID:          r.ID,
		UserID:      r.UserID,
		Description: r.Description,
		Scope:       r.Scope,
		Expiration:  r.Expiration.UTC(),
		SourceIP:    deref(r.SourceIP),
		Enabled:     r.Enabled,
		RevokedAt:   utcPtr(r.RevokedAt),
		LastUsedAt:  utcPtr(r.LastUsedAt),
		LastUsedIP:  deref(r.LastUsedIP),
		KeyID:       r.KeyID,
		Hash:        r.TokenHash,
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),

		ClaimExpiration: r.ClaimExpiration.UTC(),

		RotatedFrom:    deref(r.RotatedFrom),
		RotatedTo:      deref(r.RotatedTo),
		RetirePrevious: r.RetirePrevious,
		LeakedAt:       utcPtr(r.LeakedAt),
		LeakURL:        deref(r.LeakURL),
		LeakSource:     deref(r.LeakSource),
	}
	if r.Resources != nil {
		if err := json.Unmarshal([]byte(*r.Resources), &t.Resources); err != nil {
			return t, err
		}
	}
	if r.RecentClients != nil {
		t.RecentClients = decodeClients(*r.RecentClients)
	}
	return t, nil
}

// Tokens stores API token metadata.
type Tokens struct {
	s *Store
	// purgeBatch, when positive, replaces DefaultPurgeBatch;
	// noPurgePause drops Purge's pause between batches; afterPurgeBatch,
	// when set, learns of every batch Purge deleted: hooks for the tests
	// (export_test.go).
	purgeBatch      int
	noPurgePause    bool
	afterPurgeBatch func(n int64)
	// batch gathers creations on PostgreSQL (createbatch.go).
	batch createBatcher
}

const tokenNotFound = "API token not found"

// Create stores a new token's metadata.
func (ts *Tokens) Create(ctx context.Context, t *apitoken.Token) error {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	row, err := newTokenRow(t)
	if err != nil {
		return ts.s.wrap(ctx, err, "")
	}
	actor := audit.ActorFrom(ctx)
	err = ts.s.tx(ctx, func(tx *gorm.DB) error {
		if ts.s.dialect == Postgres {
			// One statement, one round trip, writes the row and its count.
			k := countKeyOf(&row)
			err := tx.Exec("WITH t AS (INSERT INTO api_tokens ("+strings.Join(copyColumns, ", ")+") VALUES (?"+
				strings.Repeat(", ?", len(copyColumns)-1)+") RETURNING user_id) "+
				"INSERT INTO token_count_changes (user_id, class, day, n) SELECT user_id, ?, ?, 1 FROM t",
				append(rowValues(&row, 0), k.class, k.day)...).Error
			if err != nil {
				return err
			}
		} else {
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			if err := recordCounts(tx, nil, []tokenRow{row}); err != nil {
				return err
			}
		}
		return ts.s.appendEvents(tx, tokenCreated(actor, &row))
	})
	return ts.s.wrap(ctx, err, "")
}

// CreateBelow stores a new token's metadata if its user holds fewer than
// below tokens neither revoked nor expired at now (liveSQL, as CountLive
// counts them), and reports whether it did. It takes no lock: creations
// running at once do not see one another, except, on PostgreSQL, those
// gathered into one batch (createbatch.go), where each counts those of its
// user before it.
func (ts *Tokens) CreateBelow(ctx context.Context, t *apitoken.Token, now time.Time, below int64) (bool, error) {
	row, err := newTokenRow(t)
	if err != nil {
		return false, ts.s.wrap(ctx, err, "")
	}
	if ts.s.dialect == Postgres {
		if ctx.Value(txKey{ts.s}) != nil {
			return ts.createBelowAlone(ctx, &pendingCreate{row: row, below: below, now: now})
		}
		return ts.createBelowBatched(ctx, row, now, below)
	}
	created := false
	err = ts.s.transact(ctx, func(ctx context.Context) error {
		n, err := ts.CountLive(ctx, t.UserID, now, false)
		if err != nil || n >= below {
			return err
		}
		created = true
		return ts.Create(ctx, t)
	})
	return created && err == nil, ts.s.wrap(ctx, err, "")
}

// CountLive returns how many of the user's tokens are neither revoked nor
// expired at now, from the counts (liveSQL). With lock, it first
// locks the user's row until the transaction ends: counts taken under the
// lock are taken one after the other, each after the creations in flight
// have committed (on PostgreSQL, inserting a token holds a key-share lock
// of its user's row, which the lock waits for).
func (ts *Tokens) CountLive(ctx context.Context, userID string, now time.Time, lock bool) (int64, error) {
	var n int64
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		if lock {
			var locked []string
			if err := lockForUpdate(tx.Model(&userRow{})).Where("id = ?", userID).Pluck("id", &locked).Error; err != nil {
				return err
			}
		}
		return tx.Raw("SELECT "+liveSQL, liveArgs(userID, now)...).Scan(&n).Error
	})
	return n, ts.s.wrap(ctx, err, "")
}

// Get returns the token with the id, which must belong to the user unless
// userID is "". A token of another user is not found.
func (ts *Tokens) Get(ctx context.Context, userID, id string) (apitoken.Token, error) {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return apitoken.Token{}, err
	}
	defer done()
	var row tokenRow
	q := ts.s.conn(ctx).Where("id = ?", id)
	if userID != "" {
		q = q.Where("user_id = ?", userID)
	}
	if err := q.Take(&row).Error; err != nil {
		return apitoken.Token{}, ts.s.wrap(ctx, err, tokenNotFound)
	}
	t, err := row.token()
	return t, ts.s.wrap(ctx, err, "")
}

// List returns a page of the tokens the filter selects, ordered by
// creation, and how many it selects in all.
func (ts *Tokens) List(ctx context.Context, f apitoken.TokenFilter) (apitoken.TokenPage, error) {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return apitoken.TokenPage{}, err
	}
	defer done()
	db := ts.s.conn(ctx)
	var page apitoken.TokenPage
	if f.Inventory.Any() {
		page.Total, err = ts.countInventory(db, f)
	} else {
		page.Total, err = ts.count(db, f)
	}
	if err != nil {
		return page, ts.s.wrap(ctx, err, "")
	}
	rows, more, err := ts.page(db, f)
	if err != nil {
		return page, ts.s.wrap(ctx, err, "")
	}
	page.More = more || (f.After == nil && f.Before == nil && int64(f.Offset+len(rows)) < page.Total)
	page.Tokens = make([]apitoken.Token, len(rows))
	for i := range rows {
		if page.Tokens[i], err = rows[i].token(); err != nil {
			return page, ts.s.wrap(ctx, err, "")
		}
	}
	return page, nil
}

// page reads the rows of a list's page. A page after or before a position
// reads one row more than the page holds, to tell whether the list goes on;
// a page at an offset reads the ids of its rows from the list index alone,
// however many rows it skips, then the rows.
func (ts *Tokens) page(db *gorm.DB, f apitoken.TokenFilter) (rows []tokenRow, more bool, err error) {
	// The page reads the list index, in its order. SQLite, which keeps no
	// statistics unless asked, would rather pick the index of live tokens
	// for a status filter, and sort every token the user has.
	q := db.Model(&tokenRow{})
	if ts.s.dialect == SQLite {
		q = q.Table("api_tokens INDEXED BY " + listIndex(f))
	}
	q = q.Where(listCondition(f))
	// A page before a position is read backwards from it.
	backwards := f.Before != nil
	order, past := "created_at, id", ">"
	if f.Newest != backwards {
		order, past = "created_at DESC, id DESC", "<"
	}
	if p := cmp.Or(f.After, f.Before); p != nil {
		q = q.Where("(created_at, id) "+past+" (?, ?)", dbTime(p.CreatedAt), p.ID)
	}
	if f.Offset > 0 {
		ids := q.Select("id").Order(order).Limit(f.Limit).Offset(f.Offset)
		err = db.Model(&tokenRow{}).Where("id IN (?)", ids).Order(order).Find(&rows).Error
		return rows, false, err
	}
	if err = q.Order(order).Limit(f.Limit + 1).Find(&rows).Error; err != nil {
		return nil, false, err
	}
	if more = len(rows) > f.Limit; more {
		rows = rows[:f.Limit]
	}
	if backwards {
		slices.Reverse(rows)
	}
	return rows, more, nil
}

// statusCondition selects tokens in any of the statuses at now, by the
// domain's rules for them; no statuses means all but revoked.
func statusCondition(statuses []apitoken.Status, now time.Time) clause.Expression {
	if len(statuses) == 0 {
		statuses = apitoken.Listed
	}
	var or []clause.Expression
	for _, st := range statuses {
		r := st.Rule()
		var and []clause.Expression
		if r.Revoked != nil {
			and = append(and, clause.Expr{SQL: pick(*r.Revoked, "revoked_at IS NOT NULL", "revoked_at IS NULL")})
		}
		if r.Expired != nil {
			and = append(and, clause.Expr{SQL: pick(*r.Expired, "expiration <= ?", "expiration > ?"), Vars: []any{now}})
		}
		if r.Enabled != nil {
			and = append(and, clause.Expr{SQL: "enabled = ?", Vars: []any{*r.Enabled}})
		}
		or = append(or, clause.And(and...))
	}
	if len(or) == 1 {
		// GORM joins an OR of one condition to the conditions before it
		// with OR, as if it came from db.Or.
		return or[0]
	}
	return clause.Or(or...)
}

// pick returns ifTrue or ifFalse, by cond.
func pick(cond bool, ifTrue, ifFalse string) string {
	if cond {
		return ifTrue
	}
	return ifFalse
}

// Update changes the user's token with the id: fn edits the current state,
// read and written in one transaction, with the row locked on PostgreSQL. A
// change to anything but UpdatedAt takes the next change number; no change
// writes nothing.
func (ts *Tokens) Update(ctx context.Context, userID, id string, fn func(*apitoken.Token) error) (apitoken.Token, error) {
	var t apitoken.Token
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		var old tokenRow
		if err := lockForUpdate(tx).Where("id = ? AND user_id = ?", id, userID).Take(&old).Error; err != nil {
			return err
		}
		after, err := ts.apply(tx, []tokenRow{old}, fn)
		if err == nil {
			t = after[0]
		}
		return err
	})
	if err != nil {
		return apitoken.Token{}, ts.s.wrap(ctx, err, tokenNotFound)
	}
	return t, nil
}

// UpdateEach changes the tokens with the ids, whoever's they are, in one
// transaction (the caller's, within InTx): fn edits each one's current
// state, read with the rows locked in id order on PostgreSQL, so that two
// transactions locking some of the same rows never deadlock. The tokens
// whose state changed take one change number between them. It returns the
// tokens as stored after, in id order; ids not found are left out.
func (ts *Tokens) UpdateEach(ctx context.Context, ids []string, fn func(*apitoken.Token) error) ([]apitoken.Token, error) {
	var out []apitoken.Token
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(slices.Sorted(slices.Values(ids)), maxRowsPerStatement) {
			var old []tokenRow
			if err := lockForUpdate(tx).Where("id IN ?", chunk).Order("id").Find(&old).Error; err != nil {
				return err
			}
			after, err := ts.apply(tx, old, fn)
			if err != nil {
				return err
			}
			out = append(out, after...)
		}
		return nil
	})
	return out, ts.s.wrap(ctx, err, "")
}

// apply lets fn change the tokens of the rows, read in the transaction
// tx, and writes back those whose state changed, with one change number
// between them and the differences to the counts. It returns the tokens
// as stored after, times at their stored precision.
func (ts *Tokens) apply(tx *gorm.DB, olds []tokenRow, fn func(*apitoken.Token) error) ([]apitoken.Token, error) {
	out := make([]apitoken.Token, len(olds))
	var before, after []tokenRow
	seq := int64(0)
	for i, old := range olds {
		t, err := old.token()
		if err != nil {
			return nil, err
		}
		if err := fn(&t); err != nil {
			return nil, err
		}
		row, err := newTokenRow(&t)
		if err != nil {
			return nil, err
		}
		row.ChangeSeq, row.UpdatedAt = old.ChangeSeq, old.UpdatedAt
		if reflect.DeepEqual(row.normalized(), old.normalized()) {
			if out[i], err = old.token(); err != nil {
				return nil, err
			}
			continue
		}
		if seq == 0 {
			if seq, err = ts.s.nextChange(tx); err != nil {
				return nil, err
			}
		}
		row.ChangeSeq, row.UpdatedAt = seq, dbTime(t.UpdatedAt)
		if err := tx.Save(&row).Error; err != nil {
			return nil, err
		}
		if e, ok := tokenChanged(tx.Statement.Context, &old, &row); ok {
			if err := ts.s.appendEvents(tx, e); err != nil {
				return nil, err
			}
		}
		before, after = append(before, old), append(after, row)
		if out[i], err = row.token(); err != nil {
			return nil, err
		}
	}
	return out, recordCounts(tx, before, after)
}

type credentialRow struct {
	Token      tokenRow  `gorm:"embedded"`
	UEmail     string    `gorm:"column:u_email"`
	URole      string    `gorm:"column:u_role"`
	UScopes    *string   `gorm:"column:u_scopes"`
	UService   bool      `gorm:"column:u_service"`
	UDisabled  bool      `gorm:"column:u_disabled"`
	UCreatedAt time.Time `gorm:"column:u_created_at"`
	UUpdatedAt time.Time `gorm:"column:u_updated_at"`
}

// Credential returns what authenticating the token with the id needs, read
// in one query: the token's metadata and its owner.
func (ts *Tokens) Credential(ctx context.Context, id string) (apitoken.Token, apitoken.User, error) {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return apitoken.Token{}, apitoken.User{}, err
	}
	defer done()
	var row credentialRow
	err = ts.s.conn(ctx).Raw(`
		SELECT t.*,
		       u.email AS u_email, u.role AS u_role, u.scopes AS u_scopes,
		       u.service AS u_service, u.disabled AS u_disabled,
		       u.created_at AS u_created_at, u.updated_at AS u_updated_at
		FROM api_tokens t
		JOIN users u ON u.id = t.user_id
		WHERE t.id = ?`, id).Scan(&row).Error
	if err == nil && row.Token.ID == "" {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return apitoken.Token{}, apitoken.User{}, ts.s.wrap(ctx, err, tokenNotFound)
	}
	t, err := row.Token.token()
	if err != nil {
		return apitoken.Token{}, apitoken.User{}, ts.s.wrap(ctx, err, "")
	}
	user := userRow{
		ID: row.Token.UserID, Email: row.UEmail, Role: row.URole, Scopes: row.UScopes,
		Service: row.UService, Disabled: row.UDisabled, CreatedAt: row.UCreatedAt, UpdatedAt: row.UUpdatedAt,
	}
	return t, user.user(), nil
}

// lockForUpdate locks the rows a query reads until the transaction ends, on
// PostgreSQL; SQLite transactions already hold the database's write lock.
func lockForUpdate(tx *gorm.DB) *gorm.DB {
	return tx.Clauses(clause.Locking{Strength: "UPDATE"})
}
