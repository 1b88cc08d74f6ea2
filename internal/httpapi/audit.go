package httpapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

// auditEvent is the JSON:API resource of an audit event, read-only.
type auditEvent struct {
	ID           string                  `jsonapi:"primary,auditEvent"`
	Seq          int64                   `jsonapi:"attr,seq"`
	Action       string                  `jsonapi:"attr,action"`
	OccurredAt   string                  `jsonapi:"attr,occurredAt"`
	ActorUserID  string                  `jsonapi:"attr,actorUserId,omitempty"`
	ActorTokenID string                  `jsonapi:"attr,actorTokenId,omitempty"`
	TargetType   string                  `jsonapi:"attr,targetType"`
	TargetID     string                  `jsonapi:"attr,targetId"`
	UserID       string                  `jsonapi:"attr,userId,omitempty"`
	SourceIP     string                  `jsonapi:"attr,sourceIp,omitempty"`
	UserAgent    string                  `jsonapi:"attr,userAgent,omitempty"`
	Changes      map[string]audit.Change `jsonapi:"attr,changes,omitempty"`
}

func eventResource(e *audit.Event) *auditEvent {
	return &auditEvent{
		ID: e.ID, Seq: e.Seq, Action: string(e.Action), OccurredAt: apitoken.FormatTime(e.OccurredAt),
		ActorUserID: e.ActorUserID, ActorTokenID: e.ActorTokenID, TargetType: e.TargetType, TargetID: e.TargetID,
		UserID: e.UserID, SourceIP: e.SourceIP, UserAgent: e.UserAgent, Changes: e.Changes,
	}
}

// eventListOptions are the parameters of audit event lists: pages by
// offset or by cursor, sort occurredAt or -occurredAt (the log's order),
// and eventParams' filters.
var eventListOptions = listOptions{cursor: true, sort: true, events: true}

// listAuditEvents handles GET /audit-events, for admins.
func (s *Server) listAuditEvents(c echo.Context) error {
	p, err := parseList(c, eventListOptions)
	if err != nil {
		return err
	}
	page, err := s.svc.ListAuditEvents(ctx(c), principalOf(c), p.events)
	if err != nil {
		return err
	}
	return s.writeEvents(c, p, &page)
}

// listUserAuditEvents handles GET /users/:userId/audit-events.
func (s *Server) listUserAuditEvents(c echo.Context) error {
	p, err := parseList(c, eventListOptions)
	if err != nil {
		return err
	}
	page, err := s.svc.ListUserAuditEvents(ctx(c), principalOf(c), c.Param("userId"), p.events)
	if err != nil {
		return err
	}
	return s.writeEvents(c, p, &page)
}

func (s *Server) writeEvents(c echo.Context, p listParams, page *audit.Page) error {
	res := make([]*auditEvent, len(page.Events))
	for i := range page.Events {
		res[i] = eventResource(&page.Events[i])
	}
	info := pageInfo{total: page.Total, more: page.More}
	if n := len(page.Events); n > 0 {
		info.first, info.last = encodeEventCursor(page.Events[0].Seq), encodeEventCursor(page.Events[n-1].Seq)
	}
	links, meta := s.pageLinks(c, p, info)
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeCollection(c, res, links, meta)
}

// An event cursor is an event's place in the log, opaque to clients: its
// seq, base64url-encoded after "e".
func encodeEventCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("e" + strconv.FormatInt(seq, 10)))
}

func decodeEventCursor(s string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'e' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	return n, err == nil && n >= 0
}

// setEventFilter sets the audit event filter name to v.
func setEventFilter(f *audit.Filter, name, v string) *apitoken.Error {
	switch name {
	case "filter[action]":
		for _, a := range strings.Split(v, ",") {
			if !audit.Known(audit.Action(a)) {
				return paramError(name, "filter[action] must list actions such as apiToken.created or auth.refused, separated by commas.")
			}
			f.Actions = append(f.Actions, audit.Action(a))
		}
	case "filter[targetId]", "filter[actorUserId]":
		if v == "" || len(v) > 200 {
			return paramError(name, "%s must be an id.", name)
		}
		if name == "filter[targetId]" {
			f.TargetID = v
		} else {
			f.ActorUserID = v
		}
	case "filter[since]", "filter[until]":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || strings.ContainsRune(v, ',') {
			return paramError(name, "%s must be an RFC 3339 date-time such as 2027-07-01T13:47:17.000Z.", name)
		}
		if name == "filter[since]" {
			f.Since = &t
		} else {
			f.Until = &t
		}
	}
	return nil
}
