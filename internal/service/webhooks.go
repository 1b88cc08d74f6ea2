package service

import (
	"context"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/webhook"
)

// WebhookStore keeps webhooks; each change records its audit event in its
// transaction.
type WebhookStore interface {
	Create(ctx context.Context, w *webhook.Webhook, sealedSecret []byte) error
	Get(ctx context.Context, id string) (webhook.Webhook, error)
	List(ctx context.Context, limit, offset int) ([]webhook.Webhook, int64, error)
	Update(ctx context.Context, id string, fn func(*webhook.Webhook) error) (webhook.Webhook, error)
	Delete(ctx context.Context, id string) (webhook.Webhook, error)
	Deliveries(ctx context.Context, webhookID string, limit, offset int) ([]webhook.Delivery, int64, error)
}

// Webhooks manages webhooks on admins' behalf.
type Webhooks struct {
	store  WebhookStore
	sealer *keys.Sealer
	guard  *webhook.Guard
	svc    *Service
}

// NewWebhooks returns the webhooks' management over the store; secrets
// are sealed with the sealer, URLs checked by the guard.
func (s *Service) NewWebhooks(st WebhookStore, sealer *keys.Sealer, guard *webhook.Guard) *Webhooks {
	if guard == nil {
		guard = &webhook.Guard{}
	}
	return &Webhooks{store: st, sealer: sealer, guard: guard, svc: s}
}

// MayWrite returns an error unless the caller may change webhooks; id, if
// set, must name one. Handlers call it before reading a request body.
func (ws *Webhooks) MayWrite(ctx context.Context, p *Principal, id string) error {
	if err := authorizeAdmin(p, apitoken.ScopeWebhooksWrite, "manage webhooks"); err != nil || id == "" {
		return err
	}
	_, err := ws.get(ctx, id)
	return err
}

// Create registers a webhook and returns it with its secret, which is
// shown this once and stored only sealed.
func (ws *Webhooks) Create(ctx context.Context, p *Principal, req webhook.Request) (webhook.Webhook, string, error) {
	if err := authorizeAdmin(p, apitoken.ScopeWebhooksWrite, "manage webhooks"); err != nil {
		return webhook.Webhook{}, "", err
	}
	w, err := req.Validate()
	if err != nil {
		return webhook.Webhook{}, "", err
	}
	if err := ws.guard.CheckURL(ctx, w.URL); err != nil {
		return webhook.Webhook{}, "", err
	}
	now := ws.svc.now().UTC()
	w.ID, w.CreatedAt, w.UpdatedAt = newID(), now, now
	key, shown := webhook.NewSecret()
	if err := ws.store.Create(ctx, &w, ws.sealer.SealSecret(webhook.SecretLabel(w.ID), key)); err != nil {
		return webhook.Webhook{}, "", err
	}
	return w, shown, nil
}

// Get returns a webhook.
func (ws *Webhooks) Get(ctx context.Context, p *Principal, id string) (webhook.Webhook, error) {
	if err := authorizeAdmin(p, apitoken.ScopeWebhooks, "read webhooks"); err != nil {
		return webhook.Webhook{}, err
	}
	return ws.get(ctx, id)
}

func (ws *Webhooks) get(ctx context.Context, id string) (webhook.Webhook, error) {
	if !ValidID(id) {
		return webhook.Webhook{}, apitoken.Errorf(apitoken.NotFound, "webhook not found")
	}
	return ws.store.Get(ctx, id)
}

// List returns webhooks in creation order, and how many there are.
func (ws *Webhooks) List(ctx context.Context, p *Principal, limit, offset int) ([]webhook.Webhook, int64, error) {
	if err := authorizeAdmin(p, apitoken.ScopeWebhooks, "read webhooks"); err != nil {
		return nil, 0, err
	}
	return ws.store.List(ctx, limit, offset)
}

// Update changes a webhook's url, events, description or enabled flag.
func (ws *Webhooks) Update(ctx context.Context, p *Principal, id string, upd webhook.Update) (webhook.Webhook, error) {
	if err := ws.MayWrite(ctx, p, id); err != nil {
		return webhook.Webhook{}, err
	}
	if upd.URL != nil {
		// Checked before the transaction: resolving a name takes time no
		// lock should be held for.
		if err := (webhook.Update{URL: upd.URL}).Apply(&webhook.Webhook{}); err != nil {
			return webhook.Webhook{}, err
		}
		if err := ws.guard.CheckURL(ctx, *upd.URL); err != nil {
			return webhook.Webhook{}, err
		}
	}
	now := ws.svc.now().UTC()
	return ws.store.Update(ctx, id, func(w *webhook.Webhook) error {
		if err := upd.Apply(w); err != nil {
			return err
		}
		w.UpdatedAt = now
		return nil
	})
}

// Delete deletes a webhook with its deliveries, and returns it as it was.
func (ws *Webhooks) Delete(ctx context.Context, p *Principal, id string) (webhook.Webhook, error) {
	if err := ws.MayWrite(ctx, p, id); err != nil {
		return webhook.Webhook{}, err
	}
	return ws.store.Delete(ctx, id)
}

// Deliveries returns a webhook's deliveries with their attempts, the
// latest event first.
func (ws *Webhooks) Deliveries(ctx context.Context, p *Principal, id string, limit, offset int) ([]webhook.Delivery, int64, error) {
	if _, err := ws.Get(ctx, p, id); err != nil {
		return nil, 0, err
	}
	return ws.store.Deliveries(ctx, id, limit, offset)
}
