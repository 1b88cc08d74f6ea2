// Package audit is tokend's audit log in the domain's terms: the events
// that record every change and every refused authentication, their
// actions, the chain of hashes that links each event to its predecessor so
// that a changed, deleted or reordered event is detected, and the actor of
// a request, carried in its context. It knows no database: package store
// appends events and walks the chain.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Action is what an event records.
type Action string

// The actions of SPEC §7.
const (
	TokenCreated  Action = "apiToken.created"
	TokenUpdated  Action = "apiToken.updated"
	TokenRotated  Action = "apiToken.rotated"
	TokenRevoked  Action = "apiToken.revoked"
	TokenLeaked   Action = "apiToken.leaked"
	TokenExpiring Action = "apiToken.expiring"
	TokenDisabled Action = "apiToken.disabled"
	UserCreated   Action = "user.created"
	UserUpdated   Action = "user.updated"
	KeyRotated    Action = "key.rotated"
	// The webhooks' actions.
	WebhookCreated  Action = "webhook.created"
	WebhookUpdated  Action = "webhook.updated"
	WebhookDeleted  Action = "webhook.deleted"
	WebhookDisabled Action = "webhook.disabled"
	// AuthRefused records refused authentications, aggregated per source
	// address and reason (see Refusals).
	AuthRefused Action = "auth.refused"
)

// Actions lists every action, in the order above.
var Actions = []Action{
	TokenCreated, TokenUpdated, TokenRotated, TokenRevoked, TokenLeaked, TokenExpiring, TokenDisabled,
	UserCreated, UserUpdated, KeyRotated,
	WebhookCreated, WebhookUpdated, WebhookDeleted, WebhookDisabled,
	AuthRefused,
}

// Known reports whether a is one of Actions.
func Known(a Action) bool {
	for _, k := range Actions {
		if k == a {
			return true
		}
	}
	return false
}

// The types of the targets of events.
const (
	TargetToken      = "apiToken"
	TargetUser       = "user"
	TargetSigningKey = "signingKey"
	TargetWebhook    = "webhook"
	// TargetAuth is the target of auth.refused: its id is the reason.
	TargetAuth = "authentication"
)

// Event is one entry of the audit log. Empty strings stand for absent
// values (NULL in the database). Seq, PrevHash and Hash are assigned when
// the event is appended to the chain; ID and OccurredAt then too, if
// empty.
type Event struct {
	// Seq numbers the events 1, 2, 3, … in commit order.
	Seq int64
	// ID is the event's public id (a UUID).
	ID           string
	OccurredAt   time.Time
	Action       Action
	ActorUserID  string
	ActorTokenID string
	TargetType   string
	TargetID     string
	// UserID is the user the target belongs to (a token's owner, the user
	// itself), whose own events list holds the event.
	UserID    string
	SourceIP  string
	UserAgent string
	// Changes holds the old and new values of the non-secret attributes
	// the event changed; never a token or a secret.
	Changes Changes
	// PrevHash is the hash of the event before, Hash the event's own
	// (see Hash).
	PrevHash []byte
	Hash     []byte
}

// Change is an attribute's value before and after, as JSON (null for
// none).
type Change struct {
	Old json.RawMessage `json:"old"`
	New json.RawMessage `json:"new"`
}

// Changes maps attribute names to their change.
type Changes map[string]Change

// Set records that attr went from old to new, each encoded as JSON. A
// value that does not encode is recorded as null.
func (c Changes) Set(attr string, old, new any) {
	c[attr] = Change{Old: encode(old), New: encode(new)}
}

// Compare records that attr went from old to new if their JSON differs,
// and reports whether it did.
func (c Changes) Compare(attr string, old, new any) bool {
	o, n := encode(old), encode(new)
	if bytes.Equal(o, n) {
		return false
	}
	c[attr] = Change{Old: o, New: n}
	return true
}

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// Encode returns the changes as stored: a JSON object with its keys in
// order, or nil for none. The same changes always encode to the same
// bytes, and DecodeChanges of them encodes back to them.
func (c Changes) Encode() ([]byte, error) {
	if len(c) == 0 {
		return nil, nil
	}
	for k, ch := range c {
		// A value left nil is null.
		if ch.Old == nil || ch.New == nil {
			if ch.Old == nil {
				ch.Old = json.RawMessage("null")
			}
			if ch.New == nil {
				ch.New = json.RawMessage("null")
			}
			c[k] = ch
		}
	}
	return json.Marshal(map[string]Change(c))
}

// DecodeChanges reads changes as Encode wrote them; empty is none.
func DecodeChanges(b []byte) (Changes, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var c Changes
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("audit: changes: %w", err)
	}
	return c, nil
}

// HashSize is the size of an event's hash.
const HashSize = sha256.Size

// Genesis is the predecessor's hash of the first event of a chain.
var Genesis = make([]byte, HashSize)

// hashDomain starts every hashed encoding, naming its version.
const hashDomain = "tokend.audit.v1"

// Sum returns the event's hash given its predecessor's, prev: SHA-256 of
// a canonical encoding of prev and of every field but Hash and PrevHash,
// each field prefixed by its length, so that no two events encode alike.
// OccurredAt counts in milliseconds, the precision stored.
func (e *Event) Sum(prev []byte) ([]byte, error) {
	changes, err := e.Changes.Encode()
	if err != nil {
		return nil, err
	}
	return e.sum(prev, changes), nil
}

// sum is Sum with the changes encoded already.
func (e *Event) sum(prev, changes []byte) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	num := func(v int64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		field(b[:])
	}
	field([]byte(hashDomain))
	field(prev)
	num(e.Seq)
	field([]byte(e.ID))
	num(e.OccurredAt.UnixMilli())
	for _, s := range []string{string(e.Action), e.ActorUserID, e.ActorTokenID, e.TargetType, e.TargetID,
		e.UserID, e.SourceIP, e.UserAgent} {
		field([]byte(s))
	}
	field(changes)
	return h.Sum(nil)
}

// Seal numbers the event seq after the event whose hash is prev, and sets
// its PrevHash and Hash. It returns the changes encoded, as stored.
func (e *Event) Seal(seq int64, prev []byte) ([]byte, error) {
	changes, err := e.Changes.Encode()
	if err != nil {
		return nil, err
	}
	e.Seq, e.PrevHash = seq, prev
	e.Hash = e.sum(prev, changes)
	return changes, nil
}

// ErrBroken is the error of a chain that does not verify.
var ErrBroken = errors.New("audit: chain broken")

// Check verifies that the event's hash is its own, given its stored
// predecessor's hash prev.
func (e *Event) Check(prev []byte) error {
	if !bytes.Equal(e.PrevHash, prev) {
		return fmt.Errorf("%w at event %d (%s): it does not follow the event before it (an event was deleted, inserted or reordered)", ErrBroken, e.Seq, e.ID)
	}
	h, err := e.Sum(prev)
	if err != nil || !bytes.Equal(h, e.Hash) {
		return fmt.Errorf("%w at event %d (%s): its content does not match its hash (the event was changed)", ErrBroken, e.Seq, e.ID)
	}
	return nil
}

// Actor is who makes a change: the authenticated user and token of a
// request, with its client's address and user agent. The command line's
// local commands have no user or token.
type Actor struct {
	UserID    string
	TokenID   string
	SourceIP  string
	UserAgent string
}

type actorKey struct{}

// WithActor returns a context that carries the actor, for the events of
// the changes made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; the zero Actor if none.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// From returns an event of the action on a target, made by the actor ctx
// carries.
func From(ctx context.Context, action Action, targetType, targetID, userID string) Event {
	a := ActorFrom(ctx)
	return Event{Action: action, TargetType: targetType, TargetID: targetID, UserID: userID,
		ActorUserID: a.UserID, ActorTokenID: a.TokenID, SourceIP: a.SourceIP, UserAgent: a.UserAgent}
}

// Filter selects events of the audit log for a list, and one page of
// them, in seq order (oldest first, or newest with Newest).
type Filter struct {
	// UserID selects the events of one user's tokens and of the user
	// itself; "" selects every event.
	UserID string
	// Actions selects events of any of the actions; none selects all.
	Actions     []Action
	TargetID    string
	ActorUserID string
	// Since and Until bound OccurredAt: Since <= OccurredAt < Until.
	Since, Until *time.Time
	Newest       bool
	Limit        int
	Offset       int
	// After and Before page by position: the events past the one with
	// seq After, or those before Before, in the list's order.
	After, Before *int64
}

// Page is a page of a list of events.
type Page struct {
	Events []Event
	// Total is how many events the filter selects in all.
	Total int64
	// More reports events past the page.
	More bool
}
