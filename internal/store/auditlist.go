package store

import (
	"cmp"
	"context"
	"slices"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/audit"
)

// ListEvents returns a page of the audit events the filter selects, in
// seq order, and how many it selects in all. A page after or before a
// position reads one event more than the page holds, to tell whether the
// list goes on.
func (s *Store) ListEvents(ctx context.Context, f audit.Filter) (audit.Page, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return audit.Page{}, err
	}
	defer done()
	db := s.conn(ctx)
	var page audit.Page
	if len(eventConditions(f)) == 0 {
		// The events are numbered without gaps from the chain's start to
		// its head, pruning included: no need to count millions of rows.
		var chain chainRow
		if err := db.Take(&chain, 1).Error; err != nil {
			return page, s.wrap(ctx, err, "")
		}
		page.Total = chain.HeadSeq - chain.StartSeq + 1
	} else if err := eventCondition(db.Model(&auditRow{}), f).Count(&page.Total).Error; err != nil {
		return page, s.wrap(ctx, err, "")
	}
	q := eventCondition(db.Model(&auditRow{}), f)
	backwards := f.Before != nil
	order, past := "seq", ">"
	if f.Newest != backwards {
		order, past = "seq DESC", "<"
	}
	if p := cmp.Or(f.After, f.Before); p != nil {
		q = q.Where("seq "+past+" ?", *p)
	}
	var rows []auditRow
	if f.Offset > 0 {
		err = q.Order(order).Limit(f.Limit).Offset(f.Offset).Find(&rows).Error
	} else {
		err = q.Order(order).Limit(f.Limit + 1).Find(&rows).Error
		if page.More = len(rows) > f.Limit; page.More {
			rows = rows[:f.Limit]
		}
	}
	if err != nil {
		return page, s.wrap(ctx, err, "")
	}
	if backwards {
		slices.Reverse(rows)
	}
	page.More = page.More || (f.After == nil && f.Before == nil && int64(f.Offset+len(rows)) < page.Total)
	page.Events = make([]audit.Event, len(rows))
	for i := range rows {
		if page.Events[i], err = rows[i].event(); err != nil {
			return page, s.wrap(ctx, err, "")
		}
	}
	return page, nil
}

// eventCondition adds the filter's conditions (eventConditions) to q.
func eventCondition(q *gorm.DB, f audit.Filter) *gorm.DB {
	for _, c := range eventConditions(f) {
		q = q.Where(c.query, c.arg)
	}
	return q
}

// condition is a WHERE condition with its one argument.
type condition struct {
	query string
	arg   any
}

// eventConditions returns the conditions of the filter's selections; none
// when it selects every event of the log.
func eventConditions(f audit.Filter) []condition {
	var cs []condition
	if f.UserID != "" {
		cs = append(cs, condition{"user_id = ?", f.UserID})
	}
	if len(f.Actions) > 0 {
		as := make([]string, len(f.Actions))
		for i, a := range f.Actions {
			as[i] = string(a)
		}
		cs = append(cs, condition{"action IN ?", as})
	}
	if f.TargetID != "" {
		cs = append(cs, condition{"target_id = ?", f.TargetID})
	}
	if f.ActorUserID != "" {
		cs = append(cs, condition{"actor_user_id = ?", f.ActorUserID})
	}
	if f.Since != nil {
		cs = append(cs, condition{"occurred_at >= ?", dbTime(*f.Since)})
	}
	if f.Until != nil {
		cs = append(cs, condition{"occurred_at < ?", dbTime(*f.Until)})
	}
	return cs
}

// EventsAfter returns at most limit events with seq past after, in seq
// order: what a reader that follows the log (webhooks) reads next. Since
// seq follows commit order, an event committed later never takes a seq
// below one already read.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var rows []auditRow
	if err := s.conn(ctx).Where("seq > ?", after).Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, s.wrap(ctx, err, "")
	}
	out := make([]audit.Event, len(rows))
	for i := range rows {
		if out[i], err = rows[i].event(); err != nil {
			return nil, s.wrap(ctx, err, "")
		}
	}
	return out, nil
}
