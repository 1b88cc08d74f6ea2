package store

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tokend/tokend/internal/apitoken"
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
	}
	if r.ClaimExpiration.IsZero() {
		r.ClaimExpiration = r.Expiration
	}
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
	r.RevokedAt, r.LastUsedAt = dbTimePtr(r.RevokedAt), dbTimePtr(r.LastUsedAt)
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
	}
	if r.Resources != nil {
		if err := json.Unmarshal([]byte(*r.Resources), &t.Resources); err != nil {
			return t, err
		}
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
		return ts.s.wrap(err, "")
	}
	return ts.s.wrap(ts.s.conn(ctx).Create(&row).Error, "")
}

// CountLive returns how many of the user's tokens are neither revoked nor
// expired at now, counting no further than upTo, and locks the user's row
// until the transaction ends, so that creations for one user are counted
// one after the other. The partial index api_tokens_user_live holds just
// the rows it counts.
func (ts *Tokens) CountLive(ctx context.Context, userID string, now time.Time, upTo int) (int64, error) {
	var n int64
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		var locked []string
		if err := lockForUpdate(tx.Model(&userRow{})).Where("id = ?", userID).Pluck("id", &locked).Error; err != nil {
			return err
		}
		return tx.Raw("SELECT count(*) FROM (SELECT 1 FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL AND expiration > ? LIMIT ?) live",
			userID, dbTime(now), upTo).Scan(&n).Error
	})
	return n, ts.s.wrap(err, "")
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
		return apitoken.Token{}, ts.s.wrap(err, tokenNotFound)
	}
	t, err := row.token()
	return t, ts.s.wrap(err, "")
}

// List returns a page of the tokens the filter selects, ordered by
// creation, and how many it selects in all.
func (ts *Tokens) List(ctx context.Context, f apitoken.TokenFilter) ([]apitoken.Token, int64, error) {
	ctx, done, err := ts.s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	q := ts.s.conn(ctx).Model(&tokenRow{})
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	q = q.Where(statusCondition(f.Statuses, dbTime(f.Now)))
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, ts.s.wrap(err, "")
	}
	order := "created_at, id"
	if f.Newest {
		order = "created_at DESC, id DESC"
	}
	var rows []tokenRow
	if err := q.Order(order).Limit(f.Limit).Offset(f.Offset).Find(&rows).Error; err != nil {
		return nil, 0, ts.s.wrap(err, "")
	}
	tokens := make([]apitoken.Token, len(rows))
	for i := range rows {
		t, err := rows[i].token()
		if err != nil {
			return nil, 0, ts.s.wrap(err, "")
		}
		tokens[i] = t
	}
	return tokens, total, nil
}

// statusCondition selects tokens in any of the statuses at now, by the
// domain's rules for them; no statuses means all but revoked.
func statusCondition(statuses []apitoken.Status, now time.Time) clause.Expression {
	if len(statuses) == 0 {
		statuses = []apitoken.Status{apitoken.StatusActive, apitoken.StatusExpired, apitoken.StatusDisabled}
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
		var err error
		if t, err = old.token(); err != nil {
			return err
		}
		if err := fn(&t); err != nil {
			return err
		}
		row, err := newTokenRow(&t)
		if err != nil {
			return err
		}
		row.ChangeSeq, row.UpdatedAt = old.ChangeSeq, old.UpdatedAt
		if reflect.DeepEqual(row.normalized(), old.normalized()) {
			t, err = old.token()
			return err
		}
		if row.ChangeSeq, err = ts.s.nextChange(tx); err != nil {
			return err
		}
		row.UpdatedAt = dbTime(t.UpdatedAt)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		t, err = row.token() // the state as stored, times at their stored precision
		return err
	})
	if err != nil {
		return apitoken.Token{}, ts.s.wrap(err, tokenNotFound)
	}
	return t, nil
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
		return apitoken.Token{}, apitoken.User{}, ts.s.wrap(err, tokenNotFound)
	}
	t, err := row.Token.token()
	if err != nil {
		return apitoken.Token{}, apitoken.User{}, ts.s.wrap(err, "")
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
