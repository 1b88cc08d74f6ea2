package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/webhook"
)

type webhookRow struct {
	ID           string    `gorm:"column:id;primaryKey"`
	URL          string    `gorm:"column:url"`
	Events       string    `gorm:"column:events"`
	Description  string    `gorm:"column:description"`
	Enabled      bool      `gorm:"column:enabled"`
	SealedSecret []byte    `gorm:"column:sealed_secret"`
	Failures     int       `gorm:"column:failures"`
	CreatedAt    time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt    time.Time `gorm:"column:updated_at;autoUpdateTime:false"`
}

func (webhookRow) TableName() string { return "webhooks" }

func (r *webhookRow) webhook() webhook.Webhook {
	return webhook.Webhook{
		ID: r.ID, URL: r.URL, Events: strings.Fields(r.Events), Description: r.Description,
		Enabled: r.Enabled, Failures: r.Failures, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Webhooks stores webhooks. Every change records its audit event in its
// own transaction.
type Webhooks struct{ s *Store }

// Create stores a new webhook with its sealed secret and records
// webhook.created.
func (ws *Webhooks) Create(ctx context.Context, w *webhook.Webhook, sealedSecret []byte) error {
	row := webhookRow{ID: w.ID, URL: w.URL, Events: strings.Join(w.Events, " "), Description: w.Description,
		Enabled: w.Enabled, SealedSecret: sealedSecret, CreatedAt: dbTime(w.CreatedAt), UpdatedAt: dbTime(w.UpdatedAt)}
	err := ws.s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		ev := audit.From(ctx, audit.WebhookCreated, audit.TargetWebhook, w.ID, "")
		ev.Changes = webhookChanges(nil, w)
		return ws.s.appendEvents(tx, ev)
	})
	return ws.s.wrap(ctx, err, "")
}

// webhookChanges returns the attributes that differ between old (nil for
// none) and new (nil for none); never the secret, and the URL redacted
// (webhook.RedactURL).
func webhookChanges(old, new *webhook.Webhook) audit.Changes {
	ch := audit.Changes{}
	var o, n webhook.Webhook
	if old != nil {
		o = *old
	}
	if new != nil {
		n = *new
	}
	val := func(present bool, v any) any {
		if !present {
			return nil
		}
		return v
	}
	ch.Compare("url", val(old != nil, webhook.RedactURL(o.URL)), val(new != nil, webhook.RedactURL(n.URL)))
	ch.Compare("events", val(old != nil, o.Events), val(new != nil, n.Events))
	ch.Compare("description", val(old != nil, o.Description), val(new != nil, n.Description))
	ch.Compare("enabled", val(old != nil, o.Enabled), val(new != nil, n.Enabled))
	return ch
}

// Get returns the webhook with the id.
func (ws *Webhooks) Get(ctx context.Context, id string) (webhook.Webhook, error) {
	ctx, done, err := ws.s.begin(ctx)
	if err != nil {
		return webhook.Webhook{}, err
	}
	defer done()
	var row webhookRow
	if err := ws.s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return webhook.Webhook{}, ws.s.wrap(ctx, err, "webhook not found")
	}
	return row.webhook(), nil
}

// List returns webhooks in creation order and how many there are.
func (ws *Webhooks) List(ctx context.Context, limit, offset int) ([]webhook.Webhook, int64, error) {
	ctx, done, err := ws.s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	db := ws.s.conn(ctx)
	var total int64
	if err := db.Model(&webhookRow{}).Count(&total).Error; err != nil {
		return nil, 0, ws.s.wrap(ctx, err, "")
	}
	var rows []webhookRow
	if err := db.Order("created_at, id").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, 0, ws.s.wrap(ctx, err, "")
	}
	out := make([]webhook.Webhook, len(rows))
	for i := range rows {
		out[i] = rows[i].webhook()
	}
	return out, total, nil
}

// Update changes the webhook with the id: fn edits its current state, read
// and written in one transaction with the webhook.updated event. No change
// writes nothing and records nothing.
func (ws *Webhooks) Update(ctx context.Context, id string, fn func(*webhook.Webhook) error) (webhook.Webhook, error) {
	var w webhook.Webhook
	err := ws.s.tx(ctx, func(tx *gorm.DB) error {
		var row webhookRow
		if err := lockForUpdate(tx).Where("id = ?", id).Take(&row).Error; err != nil {
			return err
		}
		old := row.webhook()
		w = row.webhook()
		if err := fn(&w); err != nil {
			return err
		}
		ch := webhookChanges(&old, &w)
		if len(ch) == 0 && w.Failures == old.Failures {
			w = old
			return nil
		}
		w.UpdatedAt = dbTime(w.UpdatedAt)
		err := tx.Model(&webhookRow{}).Where("id = ?", id).Updates(map[string]any{
			"url": w.URL, "events": strings.Join(w.Events, " "), "description": w.Description,
			"enabled": w.Enabled, "failures": w.Failures, "updated_at": w.UpdatedAt,
		}).Error
		if err != nil || len(ch) == 0 {
			return err
		}
		ev := audit.From(ctx, audit.WebhookUpdated, audit.TargetWebhook, id, "")
		ev.Changes = ch
		return ws.s.appendEvents(tx, ev)
	})
	if err != nil {
		return webhook.Webhook{}, ws.s.wrap(ctx, err, "webhook not found")
	}
	return w, nil
}

// Delete deletes the webhook with the id, its deliveries and their
// attempts, and records webhook.deleted. It returns the webhook as it was.
func (ws *Webhooks) Delete(ctx context.Context, id string) (webhook.Webhook, error) {
	var w webhook.Webhook
	err := ws.s.tx(ctx, func(tx *gorm.DB) error {
		var row webhookRow
		if err := lockForUpdate(tx).Where("id = ?", id).Take(&row).Error; err != nil {
			return err
		}
		w = row.webhook()
		// SQLite enforces the cascade only with foreign keys on, which
		// the store's connections turn on; the attempts go first anyway,
		// so that the deletion does not rest on it.
		if err := tx.Exec("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)", id).Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM webhook_deliveries WHERE webhook_id = ?", id).Error; err != nil {
			return err
		}
		if err := tx.Delete(&webhookRow{}, "id = ?", id).Error; err != nil {
			return err
		}
		ev := audit.From(ctx, audit.WebhookDeleted, audit.TargetWebhook, id, "")
		ev.Changes = webhookChanges(&w, nil)
		return ws.s.appendEvents(tx, ev)
	})
	if err != nil {
		return webhook.Webhook{}, ws.s.wrap(ctx, err, "webhook not found")
	}
	return w, nil
}

type deliveryRow struct {
	ID            string     `gorm:"column:id;primaryKey"`
	WebhookID     string     `gorm:"column:webhook_id"`
	EventSeq      int64      `gorm:"column:event_seq"`
	EventID       string     `gorm:"column:event_id"`
	EventType     string     `gorm:"column:event_type"`
	Payload       string     `gorm:"column:payload"`
	Status        string     `gorm:"column:status"`
	Attempts      int        `gorm:"column:attempts"`
	NextAttemptAt time.Time  `gorm:"column:next_attempt_at"`
	LockedUntil   *time.Time `gorm:"column:locked_until"`
	Lease         *string    `gorm:"column:lease"`
	CreatedAt     time.Time  `gorm:"column:created_at;autoCreateTime:false"`
}

func (deliveryRow) TableName() string { return "webhook_deliveries" }

type attemptRow struct {
	DeliveryID  string    `gorm:"column:delivery_id;primaryKey"`
	Attempt     int       `gorm:"column:attempt;primaryKey"`
	AttemptedAt time.Time `gorm:"column:attempted_at"`
	StatusCode  *int      `gorm:"column:status_code"`
	Error       *string   `gorm:"column:error"`
	DurationMS  int64     `gorm:"column:duration_ms"`
}

func (attemptRow) TableName() string { return "webhook_attempts" }

// Deliveries returns the webhook's deliveries, the latest event first,
// each with its attempts, and how many there are. An unknown webhook is
// not found.
func (ws *Webhooks) Deliveries(ctx context.Context, webhookID string, limit, offset int) ([]webhook.Delivery, int64, error) {
	ctx, done, err := ws.s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	db := ws.s.conn(ctx)
	var n int64
	if err := db.Model(&webhookRow{}).Where("id = ?", webhookID).Count(&n).Error; err != nil {
		return nil, 0, ws.s.wrap(ctx, err, "")
	}
	if n == 0 {
		return nil, 0, ws.s.wrap(ctx, gorm.ErrRecordNotFound, "webhook not found")
	}
	var total int64
	if err := db.Model(&deliveryRow{}).Where("webhook_id = ?", webhookID).Count(&total).Error; err != nil {
		return nil, 0, ws.s.wrap(ctx, err, "")
	}
	var rows []deliveryRow
	err = db.Where("webhook_id = ?", webhookID).Order("event_seq DESC").Limit(limit).Offset(offset).Find(&rows).Error
	if err != nil {
		return nil, 0, ws.s.wrap(ctx, err, "")
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var attempts []attemptRow
	if len(ids) > 0 {
		if err := db.Where("delivery_id IN ?", ids).Order("delivery_id, attempt").Find(&attempts).Error; err != nil {
			return nil, 0, ws.s.wrap(ctx, err, "")
		}
	}
	byDelivery := map[string][]webhook.Attempt{}
	for _, a := range attempts {
		at := webhook.Attempt{At: a.AttemptedAt.UTC(), Duration: time.Duration(a.DurationMS) * time.Millisecond}
		if a.StatusCode != nil {
			at.StatusCode = *a.StatusCode
		}
		at.Error = deref(a.Error)
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], at)
	}
	out := make([]webhook.Delivery, len(rows))
	for i, r := range rows {
		out[i] = webhook.Delivery{ID: r.ID, WebhookID: r.WebhookID, EventID: r.EventID, EventType: r.EventType,
			Status: r.Status, NextAttemptAt: r.NextAttemptAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
			Attempts: slices.Clip(byDelivery[r.ID])}
	}
	return out, total, nil
}
