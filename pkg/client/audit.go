package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AuditEvent is an event of tokend's audit log. Fields tokend leaves out
// are empty.
type AuditEvent struct {
	ID           string    `json:"-"`
	Seq          int64     `json:"seq"`
	Action       string    `json:"action"`
	OccurredAt   time.Time `json:"occurredAt"`
	ActorUserID  string    `json:"actorUserId"`
	ActorTokenID string    `json:"actorTokenId"`
	TargetType   string    `json:"targetType"`
	TargetID     string    `json:"targetId"`
	UserID       string    `json:"userId"`
	SourceIP     string    `json:"sourceIp"`
	UserAgent    string    `json:"userAgent"`
	// Changes maps attributes to their old and new values, as JSON.
	Changes map[string]AuditChange `json:"changes"`
}

// AuditChange is an attribute's value before and after a change.
type AuditChange struct {
	Old json.RawMessage `json:"old"`
	New json.RawMessage `json:"new"`
}

// AuditFilter narrows a list of audit events; the zero value selects them
// all, oldest first.
type AuditFilter struct {
	Page
	Newest bool
	// Actions selects events of any of them.
	Actions     []string
	TargetID    string
	ActorUserID string
	// Since and Until bound when the events occurred: Since <= occurredAt
	// < Until.
	Since, Until time.Time
}

func auditQuery(f AuditFilter) url.Values {
	q := pageQuery(f.Page)
	if f.Newest {
		q.Set("sort", "-occurredAt")
	}
	if len(f.Actions) > 0 {
		q.Set("filter[action]", strings.Join(f.Actions, ","))
	}
	if f.TargetID != "" {
		q.Set("filter[targetId]", f.TargetID)
	}
	if f.ActorUserID != "" {
		q.Set("filter[actorUserId]", f.ActorUserID)
	}
	if !f.Since.IsZero() {
		q.Set("filter[since]", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("filter[until]", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// auditEvents sends a request whose answer is a list of audit events.
func (c *Client) auditEvents(ctx context.Context, path string, f AuditFilter) ([]AuditEvent, listMeta, error) {
	var rs []resource
	var list listMeta
	if err := c.do(ctx, http.MethodGet, path, auditQuery(f), nil, &rs, &list); err != nil {
		return nil, list, err
	}
	out := make([]AuditEvent, len(rs))
	for i := range rs {
		if err := json.Unmarshal(rs[i].Attributes, &out[i]); err != nil {
			return nil, list, err
		}
		out[i].ID = rs[i].ID
	}
	return out, list, nil
}

// auditPath is the path of the whole log for userID "", or of the user's.
func auditPath(userID string) string {
	if userID == "" {
		return "/audit-events"
	}
	return "/users/" + pathID(userID) + "/audit-events"
}

// ListAuditEvents lists a page of the audit log, and how many events the
// list holds in all: the whole log (admins, scope audit) for userID "",
// or the events of the user and its tokens.
func (c *Client) ListAuditEvents(ctx context.Context, userID string, f AuditFilter) ([]AuditEvent, int, error) {
	evs, list, err := c.auditEvents(ctx, auditPath(userID), f)
	return evs, list.Total, err
}

// EachAuditEvent yields every event ListAuditEvents would list, one page
// after another by cursor, until the list ends or the loop stops. A
// failure is yielded once, last.
func (c *Client) EachAuditEvent(ctx context.Context, userID string, f AuditFilter) iter.Seq2[AuditEvent, error] {
	return func(yield func(AuditEvent, error) bool) {
		for {
			evs, list, err := c.auditEvents(ctx, auditPath(userID), f)
			if err != nil {
				yield(AuditEvent{}, err)
				return
			}
			for _, e := range evs {
				if !yield(e, nil) {
					return
				}
			}
			if list.Next == "" {
				return
			}
			f.Offset, f.After = 0, list.Next
		}
	}
}
