package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/webhook"
)

// Outbox is the webhooks' durable outbox: the fan-out of audit events
// into deliveries, and the deliveries' claims and attempts. Everything it
// does commits in the database before it counts, so a replica that stops
// at any point leaves the work for another, or for itself after a
// restart.
type Outbox struct{ s *Store }

// fanoutEvent is an audit event as the fan-out reads it.
type fanoutEvent struct {
	Seq          int64
	ID           string
	OccurredAt   time.Time
	Action       string
	ActorUserID  sql.NullString
	ActorTokenID sql.NullString
	TargetType   string
	TargetID     string
	UserID       sql.NullString
	SourceIP     sql.NullString
	UserAgent    sql.NullString
	Changes      sql.NullString
}

func nullable(s sql.NullString) *string {
	if !s.Valid || s.String == "" {
		return nil
	}
	return &s.String
}

// payload returns the body of the event's deliveries.
func (e *fanoutEvent) payload() ([]byte, error) {
	changes := json.RawMessage("null")
	if e.Changes.Valid && e.Changes.String != "" {
		changes = json.RawMessage(e.Changes.String)
	}
	at := apitoken.FormatTime(e.OccurredAt)
	return json.Marshal(webhook.Payload{Type: e.Action, Timestamp: at, Data: webhook.EventData{
		ID: e.ID, Action: e.Action, OccurredAt: at, ActorUserID: nullable(e.ActorUserID),
		ActorTokenID: nullable(e.ActorTokenID), TargetType: e.TargetType, TargetID: e.TargetID,
		UserID: nullable(e.UserID), SourceIP: nullable(e.SourceIP), UserAgent: nullable(e.UserAgent),
		Changes: changes,
	}})
}

// FanOut turns up to limit audit events past the cursor into deliveries,
// one per enabled webhook that subscribes to the event's action and
// existed when it occurred, and moves the cursor past them, all in one
// transaction: each event is fanned out exactly once. It returns how many
// events it read, 0 when there were none, when no webhook is enabled (the
// cursor then skips the events unread) or when another replica holds the
// cursor (PostgreSQL; SQLite runs one writer at a time).
func (o *Outbox) FanOut(ctx context.Context, limit int, now time.Time) (int, error) {
	var n int
	err := o.s.tx(ctx, func(tx *gorm.DB) error {
		q := "SELECT seq FROM webhook_cursor WHERE id = 1"
		if o.s.dialect == Postgres {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var cursor []int64
		if err := tx.Raw(q).Scan(&cursor).Error; err != nil || len(cursor) == 0 {
			return err
		}
		var hooks []webhookRow
		if err := tx.Select("id", "events", "created_at").Where("enabled = ?", true).Find(&hooks).Error; err != nil {
			return err
		}
		if len(hooks) == 0 {
			// Nobody to deliver to: the cursor moves past every event
			// committed, unread. Events commit in seq order, so every
			// event up to the greatest seq visible is committed.
			return tx.Exec(`UPDATE webhook_cursor SET seq = (SELECT MAX(seq) FROM audit_events)
				WHERE id = 1 AND seq < (SELECT MAX(seq) FROM audit_events)`).Error
		}
		var events []fanoutEvent
		err := tx.Raw(`SELECT seq, id, occurred_at, action, actor_user_id, actor_token_id, target_type, target_id,
			user_id, source_ip, user_agent, changes FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`,
			cursor[0], limit).Scan(&events).Error
		if err != nil || len(events) == 0 {
			return err
		}
		var rows []deliveryRow
		for i := range events {
			e := &events[i]
			var body []byte
			for j := range hooks {
				h := hooks[j].webhook()
				if !h.Matches(e.Action) || h.CreatedAt.After(e.OccurredAt) {
					continue
				}
				if body == nil {
					if body, err = e.payload(); err != nil {
						return err
					}
				}
				rows = append(rows, deliveryRow{ID: uuid.Must(uuid.NewV7()).String(), WebhookID: h.ID,
					EventSeq: e.Seq, EventID: e.ID, EventType: e.Action, Payload: string(body),
					Status: webhook.Pending, NextAttemptAt: dbTime(now), CreatedAt: dbTime(now)})
			}
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(&rows, 100).Error; err != nil {
				return err
			}
		}
		n = len(events)
		return tx.Exec("UPDATE webhook_cursor SET seq = ? WHERE id = 1", events[len(events)-1].Seq).Error
	})
	return n, o.s.wrap(ctx, err, "")
}

// Claim takes up to limit deliveries that are due at now, of enabled
// webhooks, and holds them until now+lease: no other claim takes them
// until then, so a worker that dies gives them back when its lease ends.
// Claimers on PostgreSQL skip each other's rows instead of waiting.
func (o *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Claim, error) {
	var claims []webhook.Claim
	id := uuid.Must(uuid.NewV7()).String()
	now = dbTime(now)
	err := o.s.tx(ctx, func(tx *gorm.DB) error {
		lock := ""
		if o.s.dialect == Postgres {
			lock = " FOR UPDATE OF d SKIP LOCKED"
		}
		err := tx.Exec(`UPDATE webhook_deliveries SET locked_until = ?, lease = ? WHERE id IN (
			SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.locked_until IS NULL OR d.locked_until <= ?)
			AND w.enabled ORDER BY d.next_attempt_at LIMIT ?`+lock+`)`,
			dbTime(now.Add(lease)), id, now, now, limit).Error
		if err != nil {
			return err
		}
		var rows []struct {
			ID           string
			WebhookID    string
			URL          string
			SealedSecret []byte
			EventID      string
			Payload      string
			Attempts     int
		}
		err = tx.Raw(`SELECT d.id, d.webhook_id, w.url, w.sealed_secret, d.event_id, d.payload, d.attempts
			FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.lease = ?`, id).Scan(&rows).Error
		if err != nil {
			return err
		}
		for _, r := range rows {
			claims = append(claims, webhook.Claim{DeliveryID: r.ID, Lease: id, WebhookID: r.WebhookID, URL: r.URL,
				SealedSecret: r.SealedSecret, EventID: r.EventID, Payload: []byte(r.Payload), Attempt: r.Attempts + 1})
		}
		return nil
	})
	return claims, o.s.wrap(ctx, err, "")
}

// Outcome is what became of an attempt.
type Outcome struct {
	Attempt webhook.Attempt
	// Succeeded reports a 2xx answer.
	Succeeded bool
	// RetryAt is when a failed delivery is tried again; zero gives it up.
	RetryAt time.Time
	// MaxFailures disables the webhook at that many failed attempts in a
	// row; 0 never does.
	MaxFailures int
}

// Record records the attempt of a claimed delivery and its outcome, and
// reports whether it did: not if the claim's lease was taken over by
// another claim (this worker outlived its lease). A success resets the
// webhook's failures; a failure counts one more, and the one that reaches
// MaxFailures disables the webhook and records webhook.disabled, in the
// same transaction.
func (o *Outbox) Record(ctx context.Context, c webhook.Claim, out Outcome) (bool, error) {
	recorded := false
	err := o.s.tx(ctx, func(tx *gorm.DB) error {
		set := map[string]any{"attempts": c.Attempt, "locked_until": nil, "lease": nil}
		switch {
		case out.Succeeded:
			set["status"] = webhook.Succeeded
		case out.RetryAt.IsZero():
			set["status"] = webhook.Failed
		default:
			set["next_attempt_at"] = dbTime(out.RetryAt)
		}
		res := tx.Model(&deliveryRow{}).Where("id = ? AND lease = ?", c.DeliveryID, c.Lease).Updates(set)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		recorded = true
		a := attemptRow{DeliveryID: c.DeliveryID, Attempt: c.Attempt, AttemptedAt: dbTime(out.Attempt.At),
			Error: strPtr(out.Attempt.Error), DurationMS: out.Attempt.Duration.Milliseconds()}
		if out.Attempt.StatusCode != 0 {
			a.StatusCode = &out.Attempt.StatusCode
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		if out.Succeeded {
			return tx.Exec("UPDATE webhooks SET failures = 0 WHERE id = ? AND failures <> 0", c.WebhookID).Error
		}
		var row webhookRow
		if err := lockForUpdate(tx).Where("id = ?", c.WebhookID).Take(&row).Error; err != nil {
			return err
		}
		row.Failures++
		disable := row.Enabled && out.MaxFailures > 0 && row.Failures >= out.MaxFailures
		if err := tx.Model(&webhookRow{}).Where("id = ?", row.ID).
			Updates(map[string]any{"failures": row.Failures, "enabled": row.Enabled && !disable}).Error; err != nil {
			return err
		}
		if !disable {
			return nil
		}
		ev := audit.Event{Action: audit.WebhookDisabled, TargetType: audit.TargetWebhook, TargetID: row.ID,
			Changes: audit.Changes{}}
		ev.Changes.Set("enabled", true, false)
		ev.Changes.Set("failures", nil, row.Failures)
		return o.s.appendEvents(tx, ev)
	})
	return recorded, o.s.wrap(ctx, err, "")
}

// Prune deletes up to limit finished deliveries (succeeded or failed)
// created before the time, with their attempts, and returns how many it
// deleted.
func (o *Outbox) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := o.s.tx(ctx, func(tx *gorm.DB) error {
		var ids []string
		err := tx.Model(&deliveryRow{}).Where("status <> ? AND created_at < ?", webhook.Pending, dbTime(before)).
			Order("created_at").Limit(limit).Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := tx.Where("delivery_id IN ?", ids).Delete(&attemptRow{}).Error; err != nil {
			return err
		}
		n = len(ids)
		return tx.Where("id IN ?", ids).Delete(&deliveryRow{}).Error
	})
	return n, o.s.wrap(ctx, err, "")
}
