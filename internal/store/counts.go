package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// Counted tokens fall into classes by the facts that do not change with
// time; tokens not revoked are also counted by the day they expire, so
// that a count at any moment knows which of them have expired: all of
// those that expire on an earlier day, none of those that expire on a
// later one, and of today's, those an index finds expired: the user's
// live tokens by expiration, or everyone's by when they stopped working
// (see schema/postgres/0005_list_counts.sql and 0006).
const (
	classRevoked  int16 = 0
	classEnabled  int16 = 1
	classDisabled int16 = 2
)

// countKey is the row of token_counts a token is counted in.
type countKey struct {
	class int16
	day   int64
}

// countKeyOf returns the row of token_counts the token is counted in.
func countKeyOf(r *tokenRow) countKey {
	switch {
	case r.RevokedAt != nil:
		return countKey{class: classRevoked}
	case r.Enabled:
		return countKey{class: classEnabled, day: unixDay(r.Expiration)}
	default:
		return countKey{class: classDisabled, day: unixDay(r.Expiration)}
	}
}

// unixDay returns the number of the UTC day t falls on, counted from
// 1970-01-01, as the migration computes it.
func unixDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// countChange is a difference to a row of token_counts, appended to
// token_count_changes.
type countChange struct {
	UserID string `gorm:"column:user_id"`
	Class  int16  `gorm:"column:class"`
	Day    int64  `gorm:"column:day"`
	N      int64  `gorm:"column:n"`
}

func (countChange) TableName() string { return "token_count_changes" }

// countsOf returns the differences to the counts made by tokens changing
// from the rows in before to those in after: a creation has no row before,
// a deletion none after.
func countsOf(before, after []tokenRow) []countChange {
	type row struct {
		user string
		key  countKey
	}
	sums := map[row]int64{}
	for i := range before {
		sums[row{before[i].UserID, countKeyOf(&before[i])}]--
	}
	for i := range after {
		sums[row{after[i].UserID, countKeyOf(&after[i])}]++
	}
	var out []countChange
	for r, n := range sums {
		if n != 0 {
			out = append(out, countChange{UserID: r.user, Class: r.key.class, Day: r.key.day, N: n})
		}
	}
	return out
}

// recordCounts appends the differences the change of tokens from before
// to after makes to the counts, in the change's transaction tx.
func recordCounts(tx *gorm.DB, before, after []tokenRow) error {
	changes := countsOf(before, after)
	if len(changes) == 0 {
		return nil
	}
	return tx.CreateInBatches(changes, 1000).Error
}

// countRow is a row of the count query: a class of tokens, the day of
// their expiration relative to today (-1 earlier, 0 today, 1 later), and
// how many there are. A class plus expiredToday counts the class's tokens
// of today that have expired.
type countRow struct {
	Class int16 `gorm:"column:class"`
	Rel   int   `gorm:"column:rel"`
	N     int64 `gorm:"column:n"`
}

// expiredToday is added to a class to name the count of its tokens that
// expire today and have expired; expiredEnabled and expiredDisabled are
// those names, in SQL.
const expiredToday = 10

var (
	expiredEnabled  = strconv.Itoa(int(classEnabled) + expiredToday)
	expiredDisabled = strconv.Itoa(int(classDisabled) + expiredToday)
)

// count returns how many tokens of f.UserID (everyone's if "") are in the
// statuses f selects at f.Now, from token_counts, the changes not folded
// into it yet, and the tokens that expire today; one statement reads them
// all, so the parts agree.
func (ts *Tokens) count(db *gorm.DB, f apitoken.TokenFilter) (int64, error) {
	now := dbTime(f.Now)
	today := unixDay(now)
	dayStart := time.Unix(today*86400, 0).UTC()
	// Everyone's tokens that expired today are found by the moment they
	// stopped working, which for a token not revoked is its expiration
	// (retention.go), in the index api_tokens_stopped.
	changes, tokens := "", stoppedAt+" >= ? AND "+stoppedAt+" <= ? AND revoked_at IS NULL"
	args := []any{today, today, f.UserID}
	if f.UserID != "" {
		changes, tokens = " WHERE user_id = ?", "user_id = ? AND revoked_at IS NULL AND expiration >= ? AND expiration <= ?"
		args = append(args, f.UserID, f.UserID)
	}
	args = append(args, dayStart, now)
	var rows []countRow
	err := db.Raw(`
		SELECT class, CASE WHEN day < ? THEN -1 WHEN day = ? THEN 0 ELSE 1 END AS rel, CAST(sum(n) AS bigint) AS n
		FROM (SELECT class, day, n FROM token_counts WHERE owner = ?
		      UNION ALL
		      SELECT class, day, n FROM token_count_changes`+changes+`) c
		GROUP BY 1, 2
		UNION ALL
		SELECT CASE WHEN enabled THEN `+expiredEnabled+` ELSE `+expiredDisabled+` END, 0, count(*)
		FROM api_tokens
		WHERE `+tokens+`
		GROUP BY enabled`, args...).Scan(&rows).Error
	if err != nil {
		return 0, err
	}
	// n[class][rel+1] is how many tokens of the class expire on days
	// before, on and after today; gone[class] how many of today's expired.
	var n [3][3]int64
	var gone [3]int64
	for _, r := range rows {
		if r.Class >= expiredToday {
			gone[r.Class-expiredToday] += r.N
		} else {
			n[r.Class][r.Rel+1] += r.N
		}
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = apitoken.Listed
	}
	selected := func(revoked, expired, enabled bool) bool {
		return slices.Contains(statuses, apitoken.StatusOf(revoked, expired, enabled))
	}
	var total int64
	// A revoked token's status does not depend on its expiration.
	if selected(true, false, false) {
		total += n[classRevoked][0] + n[classRevoked][1] + n[classRevoked][2]
	}
	for _, c := range []int16{classEnabled, classDisabled} {
		enabled := c == classEnabled
		if selected(false, true, enabled) {
			total += n[c][0] + gone[c]
		}
		if selected(false, false, enabled) {
			total += n[c][1] - gone[c] + n[c][2]
		}
	}
	return total, nil
}

// liveSQL is how many of a user's tokens are neither revoked nor expired
// at a time, from the counts: those not revoked that expire today or later,
// in token_counts and the changes not folded into it, less those of today
// that have expired by then. Its arguments are liveArgs'.
var liveSQL = liveExpr("?", "?", "?", "?", "?")

// liveExpr is liveSQL over SQL expressions: the user's id as a uuid and as
// text, today's Unix day, the start of today and the time.
func liveExpr(user, userText, today, dayStart, now string) string {
	return fmt.Sprintf(`CAST(
	(SELECT coalesce(sum(n), 0) FROM token_counts WHERE owner = %[3]s AND class IN (%[1]d, %[2]d) AND day >= %[4]s)
	+ (SELECT coalesce(sum(n), 0) FROM token_count_changes WHERE user_id = %[3]s AND class IN (%[1]d, %[2]d) AND day >= %[4]s)
	- (SELECT count(*) FROM api_tokens WHERE user_id = %[5]s AND revoked_at IS NULL AND expiration >= %[6]s AND expiration <= %[7]s)
	AS bigint)`, classEnabled, classDisabled, userText, today, user, dayStart, now)
}

// liveArgs returns liveSQL's arguments for the user's tokens at now.
func liveArgs(userID string, now time.Time) []any {
	now = dbTime(now)
	today := unixDay(now)
	return []any{userID, today, userID, today, userID, time.Unix(today*86400, 0).UTC(), now}
}

// countFoldBatch is the most count changes one fold moves, unless a test
// sets Store.foldBatch.
const countFoldBatch = 10_000

// countFoldLock is the PostgreSQL advisory lock replicas take to fold
// counts one at a time.
const countFoldLock = 0x746f6b636e74 // "tokcnt"

// FoldCounts folds the count changes into token_counts, a batch per short
// transaction, until none are left, and returns how many it folded.
// Counts are right whether or not their changes are folded; folding keeps
// the changes few, so that counting stays cheap. On PostgreSQL a replica
// that finds another folding stops.
func (ts *Tokens) FoldCounts(ctx context.Context) (int, error) {
	batch := cmp.Or(ts.s.foldBatch, countFoldBatch)
	total := 0
	for {
		n, err := ts.foldBatch(ctx, batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// foldBatch folds up to batch count changes in one transaction and returns
// how many it folded.
func (ts *Tokens) foldBatch(ctx context.Context, batch int) (int, error) {
	var folded int
	err := ts.s.tx(ctx, func(tx *gorm.DB) error {
		if ts.s.dialect == Postgres {
			var locked bool
			if err := tx.Raw("SELECT pg_try_advisory_xact_lock(?)", countFoldLock).Scan(&locked).Error; err != nil || !locked {
				return err
			}
			// One statement moves the changes and adds them up, so that
			// it adds exactly those it deletes, whatever commits meanwhile.
			err := tx.Raw(`
				WITH moved AS (
				    DELETE FROM token_count_changes WHERE id IN (
				        SELECT id FROM token_count_changes ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
				    RETURNING user_id, class, day, n
				), sums AS (
				    SELECT user_id AS owner, class, day, sum(n) AS n FROM moved GROUP BY 1, 2, 3
				    UNION ALL
				    SELECT '', class, day, sum(n) FROM moved GROUP BY 2, 3
				), added AS (
				    INSERT INTO token_counts (owner, class, day, n)
				    SELECT owner, class, day, n FROM sums ORDER BY owner, class, day
				    ON CONFLICT (owner, class, day) DO UPDATE SET n = token_counts.n + excluded.n
				    RETURNING 1
				)
				SELECT count(*) FROM moved`, batch).Scan(&folded).Error
			if err != nil {
				return err
			}
		} else {
			// SQLite's transaction holds the write lock: nothing commits
			// between the statements.
			var last struct{ ID, N int64 }
			if err := tx.Raw("SELECT max(id) AS id, count(*) AS n FROM (SELECT id FROM token_count_changes ORDER BY id LIMIT ?)", batch).Scan(&last).Error; err != nil || last.N == 0 {
				return err
			}
			err := tx.Exec(`
				INSERT INTO token_counts (owner, class, day, n)
				SELECT * FROM (
				    SELECT user_id, class, day, sum(n) FROM token_count_changes WHERE id <= ? GROUP BY 1, 2, 3
				    UNION ALL
				    SELECT '', class, day, sum(n) FROM token_count_changes WHERE id <= ? GROUP BY 2, 3
				) WHERE true
				ON CONFLICT (owner, class, day) DO UPDATE SET n = token_counts.n + excluded.n`, last.ID, last.ID).Error
			if err != nil {
				return err
			}
			if err := tx.Exec("DELETE FROM token_count_changes WHERE id <= ?", last.ID).Error; err != nil {
				return err
			}
			folded = int(last.N)
		}
		// Rows of nobody's tokens are dropped: the days pass, and every
		// token is purged in the end.
		return tx.Exec("DELETE FROM token_counts WHERE n = 0").Error
	})
	return folded, ts.s.wrap(ctx, err, "")
}
