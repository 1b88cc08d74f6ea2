package httpapi

import (
	"context"
	"net/http"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/webhook"
)

// webhookResource is the JSON:API representation of a webhook; secret
// appears only in the create response.
type webhookResource struct {
	ID          string   `jsonapi:"primary,webhook"`
	URL         string   `jsonapi:"attr,url"`
	Events      []string `jsonapi:"attr,events"`
	Description string   `jsonapi:"attr,description"`
	Enabled     bool     `jsonapi:"attr,enabled"`
	Failures    int      `jsonapi:"attr,consecutiveFailures"`
	CreatedAt   string   `jsonapi:"attr,createdAt"`
	UpdatedAt   string   `jsonapi:"attr,updatedAt"`
	Secret      string   `jsonapi:"attr,secret,omitempty"`

	self string
}

// JSONAPILinks implements jsonapi.Linkable.
func (w *webhookResource) JSONAPILinks() *jsonapi.Links {
	return &jsonapi.Links{"self": w.self}
}

type webhookInput struct {
	ID          string   `jsonapi:"primary,webhook"`
	URL         *string  `jsonapi:"attr,url"`
	Events      []string `jsonapi:"attr,events"`
	Description *string  `jsonapi:"attr,description"`
	Enabled     *bool    `jsonapi:"attr,enabled"`
}

var (
	webhookShape = shape{
		typ:      "webhook",
		attrs:    map[string]attrKind{"url": kindString, "events": kindStrings, "description": kindString, "enabled": kindBool},
		readOnly: []string{"secret", "consecutiveFailures", "createdAt", "updatedAt"},
	}
)

// deliveryResource is one delivery of an event to a webhook, with every
// attempt made.
type deliveryResource struct {
	ID            string            `jsonapi:"primary,webhookDelivery"`
	EventID       string            `jsonapi:"attr,eventId"`
	EventType     string            `jsonapi:"attr,eventType"`
	Status        string            `jsonapi:"attr,status"`
	NextAttemptAt string            `jsonapi:"attr,nextAttemptAt,omitempty"`
	CreatedAt     string            `jsonapi:"attr,createdAt"`
	Attempts      []attemptResource `jsonapi:"attr,attempts"`
}

// attemptResource is one attempt of a delivery.
type attemptResource struct {
	AttemptedAt string `json:"attemptedAt"`
	StatusCode  int    `json:"statusCode,omitempty"`
	Error       string `json:"error,omitempty"`
	DurationMS  int64  `json:"durationMs"`
}

func (s *Server) webhookResource(c echo.Context, w *webhook.Webhook) *webhookResource {
	return &webhookResource{ID: w.ID, URL: w.URL, Events: w.Events, Description: w.Description, Enabled: w.Enabled,
		Failures: w.Failures, CreatedAt: apitoken.FormatTime(w.CreatedAt), UpdatedAt: apitoken.FormatTime(w.UpdatedAt),
		self: s.baseURL(c) + "/webhooks/" + w.ID}
}

// webhooks returns the webhooks' management, or a not_found error if this
// server has none.
func (s *Server) webhooks() (*service.Webhooks, error) {
	if s.cfg.Webhooks == nil {
		return nil, apitoken.Errorf(apitoken.NotFound, "webhooks are not served here")
	}
	return s.cfg.Webhooks, nil
}

// createWebhook handles POST /webhooks, for admins.
func (s *Server) createWebhook(c echo.Context) error {
	ws, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	if err := ws.MayWrite(ctx(c), principalOf(c), ""); err != nil {
		return err
	}
	var in webhookInput
	attrErrs, err := decodeDocument(c, webhookShape, "", &in)
	if err != nil {
		return err
	}
	req := webhook.Request{Events: in.Events, Enabled: in.Enabled}
	if in.URL != nil {
		req.URL = *in.URL
	}
	if in.Description != nil {
		req.Description = *in.Description
	}
	if len(attrErrs) > 0 {
		_, verr := req.Validate()
		return withAttributeErrors(attrErrs, verr)
	}
	w, secret, err := ws.Create(ctx(c), principalOf(c), req)
	if err != nil {
		return err
	}
	res := s.webhookResource(c, &w)
	res.Secret = secret
	c.Response().Header().Set("Location", res.self)
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeResource(c, http.StatusCreated, res, res.self)
}

// listWebhooks handles GET /webhooks, for admins.
func (s *Server) listWebhooks(c echo.Context) error {
	ws, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := parseList(c, listOptions{})
	if err != nil {
		return err
	}
	hooks, total, err := ws.List(ctx(c), principalOf(c), p.limit, p.offset)
	if err != nil {
		return err
	}
	res := make([]*webhookResource, len(hooks))
	for i := range hooks {
		res[i] = s.webhookResource(c, &hooks[i])
	}
	links, meta := s.pageLinks(c, p, pageInfo{total: total, more: int64(p.offset+len(hooks)) < total})
	return writeCollection(c, res, links, meta)
}

// getWebhook handles GET /webhooks/:webhookId, for admins.
func (s *Server) getWebhook(c echo.Context) error {
	return s.answerWebhook(c, (*service.Webhooks).Get)
}

// updateWebhook handles PATCH /webhooks/:webhookId, for admins.
func (s *Server) updateWebhook(c echo.Context) error {
	ws, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	id := c.Param("webhookId")
	if err := ws.MayWrite(ctx(c), principalOf(c), id); err != nil {
		return err
	}
	var in webhookInput
	attrErrs, err := decodeDocument(c, webhookShape, id, &in)
	if err != nil {
		return err
	}
	upd := webhook.Update{URL: in.URL, Events: in.Events, Description: in.Description, Enabled: in.Enabled}
	if len(attrErrs) > 0 {
		return withAttributeErrors(attrErrs, upd.Apply(&webhook.Webhook{}))
	}
	w, err := ws.Update(ctx(c), principalOf(c), id, upd)
	if err != nil {
		return err
	}
	res := s.webhookResource(c, &w)
	return writeResource(c, http.StatusOK, res, res.self)
}

// deleteWebhook handles DELETE /webhooks/:webhookId, for admins: the
// answer holds the webhook as it was.
func (s *Server) deleteWebhook(c echo.Context) error {
	return s.answerWebhook(c, (*service.Webhooks).Delete)
}

// answerWebhook handles a request about the webhook of the path that takes
// no query and answers with the webhook act returns.
func (s *Server) answerWebhook(c echo.Context, act func(*service.Webhooks, context.Context, *service.Principal, string) (webhook.Webhook, error)) error {
	ws, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	w, err := act(ws, ctx(c), principalOf(c), c.Param("webhookId"))
	if err != nil {
		return err
	}
	res := s.webhookResource(c, &w)
	return writeResource(c, http.StatusOK, res, res.self)
}

// listDeliveries handles GET /webhooks/:webhookId/deliveries, for admins:
// the latest event first, each delivery with its attempts.
func (s *Server) listDeliveries(c echo.Context) error {
	ws, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := parseList(c, listOptions{})
	if err != nil {
		return err
	}
	ds, total, err := ws.Deliveries(ctx(c), principalOf(c), c.Param("webhookId"), p.limit, p.offset)
	if err != nil {
		return err
	}
	res := make([]*deliveryResource, len(ds))
	for i, d := range ds {
		r := &deliveryResource{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
			CreatedAt: apitoken.FormatTime(d.CreatedAt), Attempts: []attemptResource{}}
		if d.Status == webhook.Pending {
			r.NextAttemptAt = apitoken.FormatTime(d.NextAttemptAt)
		}
		for _, a := range d.Attempts {
			r.Attempts = append(r.Attempts, attemptResource{AttemptedAt: apitoken.FormatTime(a.At),
				StatusCode: a.StatusCode, Error: a.Error, DurationMS: a.Duration.Milliseconds()})
		}
		res[i] = r
	}
	links, meta := s.pageLinks(c, p, pageInfo{total: total, more: int64(p.offset+len(ds)) < total})
	return writeCollection(c, res, links, meta)
}
