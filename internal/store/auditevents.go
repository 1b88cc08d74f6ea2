package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tokend/tokend/internal/audit"
)

// The events of the store's changes. The store records them itself, in
// the transaction of each change, so that no change commits without its
// event whichever way it arrives (the API, the command line, a batch).
// The actor is the one the change's context carries (audit.WithActor).

// tokenAttrs returns the audited attributes of a token's row, by their
// names in the API: every attribute but the secret's hash, the signing
// key and the uses (lastUsedAt, recentClients), which are not changes.
func tokenAttrs(r *tokenRow) map[string]any {
	var resources any
	if r.Resources != nil {
		resources = json.RawMessage(*r.Resources)
	}
	return map[string]any{
		"description":              r.Description,
		"scope":                    r.Scope,
		"expiration":               dbTime(r.Expiration),
		"sourceIp":                 r.SourceIP,
		"resources":                resources,
		"enabled":                  r.Enabled,
		"revokedAt":                dbTimePtr(r.RevokedAt),
		"rotatedFrom":              r.RotatedFrom,
		"rotatedTo":                r.RotatedTo,
		"retirePreviousOnFirstUse": r.RetirePrevious,
		"leakedAt":                 dbTimePtr(r.LeakedAt),
		"leakUrl":                  r.LeakURL,
		"leakSource":               r.LeakSource,
	}
}

// diff returns the attributes whose value differs between before and
// after; a nil before is a creation, whose attributes all come from null
// (those that are null or false after are left out).
func diff(before, after map[string]any) audit.Changes {
	c := audit.Changes{}
	for k, v := range after {
		var old any
		if before != nil {
			old = before[k]
		} else if b, _ := json.Marshal(v); string(b) == "null" || string(b) == "false" || string(b) == `""` {
			continue
		}
		c.Compare(k, old, v)
	}
	return c
}

// tokenAction names the change from before to after.
func tokenAction(before, after *tokenRow) audit.Action {
	switch {
	case before.LeakedAt == nil && after.LeakedAt != nil:
		return audit.TokenLeaked
	case before.RevokedAt == nil && after.RevokedAt != nil:
		return audit.TokenRevoked
	case before.RotatedTo == nil && after.RotatedTo != nil:
		return audit.TokenRotated
	}
	return audit.TokenUpdated
}

// tokenCreated is the event of a token's creation: the attributes it
// was created with, from null (tokenAttrs' less those null or false,
// encoded once each: creations are the busiest path).
func tokenCreated(a audit.Actor, r *tokenRow) audit.Event {
	c := make(audit.Changes, 8)
	null := json.RawMessage("null")
	set := func(attr string, v any) { c[attr] = audit.Change{Old: null, New: encodeJSON(v)} }
	if r.Description != "" {
		set("description", r.Description)
	}
	set("scope", r.Scope)
	set("expiration", dbTime(r.Expiration))
	if r.SourceIP != nil {
		set("sourceIp", *r.SourceIP)
	}
	if r.Resources != nil {
		c["resources"] = audit.Change{Old: null, New: json.RawMessage(*r.Resources)}
	}
	if r.Enabled {
		c["enabled"] = audit.Change{Old: null, New: json.RawMessage("true")}
	}
	if r.RevokedAt != nil {
		set("revokedAt", dbTime(*r.RevokedAt))
	}
	if r.RotatedFrom != nil {
		set("rotatedFrom", *r.RotatedFrom)
	}
	if r.RetirePrevious {
		c["retirePreviousOnFirstUse"] = audit.Change{Old: null, New: json.RawMessage("true")}
	}
	if r.LeakedAt != nil {
		set("leakedAt", dbTime(*r.LeakedAt))
	}
	if r.LeakURL != nil {
		set("leakUrl", *r.LeakURL)
	}
	if r.LeakSource != nil {
		set("leakSource", *r.LeakSource)
	}
	return tokenEvent(a, audit.TokenCreated, r, c, r.CreatedAt)
}

// encodeJSON returns v as JSON; a value that does not encode is null.
func encodeJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// tokenChanged is the event of a change of a token from before to after,
// with ok false if no audited attribute changed.
func tokenChanged(ctx context.Context, before, after *tokenRow) (e audit.Event, ok bool) {
	c := diff(tokenAttrs(before), tokenAttrs(after))
	if len(c) == 0 {
		return e, false
	}
	action := tokenAction(before, after)
	if why, ok := ctx.Value(causeKey{}).(cause); ok {
		action = why.action
		c.Set("reason", nil, why.reason)
	}
	return tokenEvent(audit.ActorFrom(ctx), action, after, c, after.UpdatedAt), true
}

// cause names why the changes of a transaction were made, when it is not
// what the change itself says (a token revoked by a policy is
// apiToken.disabled, with the policy as reason).
type cause struct {
	action audit.Action
	reason string
}

type causeKey struct{}

// withCause returns a context whose transaction's token changes record
// the action and the reason instead of the action their change implies.
func withCause(ctx context.Context, action audit.Action, reason string) context.Context {
	return context.WithValue(ctx, causeKey{}, cause{action, reason})
}

func tokenEvent(a audit.Actor, action audit.Action, r *tokenRow, c audit.Changes, at time.Time) audit.Event {
	return audit.Event{
		OccurredAt: at, Action: action, TargetType: audit.TargetToken, TargetID: r.ID, UserID: r.UserID,
		ActorUserID: a.UserID, ActorTokenID: a.TokenID, SourceIP: a.SourceIP, UserAgent: a.UserAgent, Changes: c,
	}
}

// userAttrs returns the audited attributes of a user's row: all of them.
func userAttrs(r *userRow) map[string]any {
	var scopes any
	if r.Scopes != nil {
		scopes = r.user().Scopes
	}
	return map[string]any{"email": r.Email, "role": r.Role, "scopes": scopes, "service": r.Service, "disabled": r.Disabled}
}

// userEvent is the event of a user's creation (before nil) or change,
// with ok false if nothing audited changed.
func userEvent(ctx context.Context, before, after *userRow) (e audit.Event, ok bool) {
	var old map[string]any
	action, at := audit.UserCreated, after.CreatedAt
	if before != nil {
		old, action, at = userAttrs(before), audit.UserUpdated, after.UpdatedAt
	}
	c := diff(old, userAttrs(after))
	if before != nil && len(c) == 0 {
		return e, false
	}
	e = audit.From(ctx, action, audit.TargetUser, after.ID, after.ID)
	e.OccurredAt, e.Changes = at, c
	return e, true
}

// keyEvent is the event of a change of the signing keys: the key whose
// status changed, from old (none for a new key) to new.
func keyEvent(ctx context.Context, keyID, oldStatus, newStatus string, at time.Time) audit.Event {
	e := audit.From(ctx, audit.KeyRotated, audit.TargetSigningKey, keyID, "")
	e.OccurredAt = at
	e.Changes = audit.Changes{}
	var old any
	if oldStatus != "" {
		old = oldStatus
	}
	e.Changes.Set("status", old, newStatus)
	return e
}
