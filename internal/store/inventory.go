package store

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tokend/tokend/internal/apitoken"
)

// listCondition selects the tokens a list filter selects: its user's (or
// everyone's), in its statuses at f.Now, and within its inventory filters.
func listCondition(f apitoken.TokenFilter) clause.Expression {
	and := []clause.Expression{statusCondition(f.Statuses, dbTime(f.Now))}
	if f.UserID != "" {
		and = append(and, clause.Eq{Column: "user_id", Value: f.UserID})
	}
	inv := f.Inventory
	if inv.ExpiresBefore != nil {
		and = append(and, clause.Expr{SQL: "expiration < ?", Vars: []any{before(*inv.ExpiresBefore)}})
	}
	if inv.LastUsedBefore != nil {
		and = append(and, clause.Expr{SQL: "(last_used_at IS NULL OR last_used_at < ?)", Vars: []any{before(*inv.LastUsedBefore)}})
	}
	if inv.Leaked != nil {
		and = append(and, clause.Expr{SQL: pick(*inv.Leaked, "leaked_at IS NOT NULL", "leaked_at IS NULL")})
	}
	if inv.Scope != "" {
		// The scope is a whole word of the space-separated list. A scope
		// name holds neither % nor _ (apitoken.ValidScopeName), so it
		// needs no escaping in the pattern.
		and = append(and, clause.Expr{SQL: "(' ' || scope || ' ') LIKE ?", Vars: []any{"% " + inv.Scope + " %"}})
	}
	return clause.And(and...)
}

// before returns the bound that stored times, at dbTime's millisecond
// precision, are before exactly when they are before t: t rounded up to
// the millisecond.
func before(t time.Time) time.Time {
	if ms := dbTime(t); ms.Before(t) {
		return ms.Add(time.Millisecond)
	}
	return dbTime(t)
}

// listIndex returns the index a list's page reads, in its order: the
// user's list index or everyone's, or, for leaked tokens, the partial
// index of those (migration 0007), which holds nothing else. SQLite, which
// keeps no statistics unless asked, would rather pick the index of live
// tokens for a status filter and sort every token the user has; it is
// told.
func listIndex(f apitoken.TokenFilter) string {
	leaked := f.Leaked != nil && *f.Leaked
	switch {
	case f.UserID != "" && leaked:
		return "api_tokens_user_leaked"
	case f.UserID != "":
		return "api_tokens_user_created"
	case leaked:
		return "api_tokens_leaked"
	}
	return "api_tokens_created"
}

// countInventory counts the tokens a filter with inventory filters
// selects. token_counts knows tokens by status only, so this counts rows:
// the user's, read through the list index (or, for leaked tokens, the
// partial index of those).
func (ts *Tokens) countInventory(db *gorm.DB, f apitoken.TokenFilter) (int64, error) {
	q := db.Model(&tokenRow{})
	if ts.s.dialect == SQLite {
		q = q.Table("api_tokens INDEXED BY " + listIndex(f))
	}
	var n int64
	err := q.Where(listCondition(f)).Count(&n).Error
	return n, err
}
