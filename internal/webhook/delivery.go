package webhook

import (
	"encoding/json"
	"time"
)

// The statuses of a delivery.
const (
	Pending   = "pending"
	Succeeded = "succeeded"
	Failed    = "failed"
)

// Delivery is one event on its way to one webhook, with its attempts.
type Delivery struct {
	ID        string
	WebhookID string
	// EventID is the audit event's id: the webhook-id header of every
	// attempt.
	EventID   string
	EventType string
	Status    string
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	Attempts      []Attempt
}

// Attempt is one try of a delivery.
type Attempt struct {
	At time.Time
	// StatusCode is the endpoint's answer; 0 if there was none.
	StatusCode int
	// Error says why the attempt failed, "" if it succeeded.
	Error    string
	Duration time.Duration
}

// Claim is a due delivery a worker holds until its lease ends: what it
// needs to make an attempt.
type Claim struct {
	DeliveryID string
	// Lease identifies the claim: recording the attempt checks that the
	// delivery was not given to another worker since.
	Lease     string
	WebhookID string
	URL       string
	// SealedSecret is the webhook's secret as stored.
	SealedSecret []byte
	EventID      string
	Payload      []byte
	// Attempt is the number of this attempt, from 1.
	Attempt int
}

// Payload is the body of a delivery, as Standard Webhooks shapes it: the
// event's type (its action), when it occurred, and the audit event's
// attributes with its id.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp string    `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an audit event as a delivery carries it: the attributes of
// the auditEvent resource and its id; absent values are null.
type EventData struct {
	ID           string          `json:"id"`
	Action       string          `json:"action"`
	OccurredAt   string          `json:"occurredAt"`
	ActorUserID  *string         `json:"actorUserId"`
	ActorTokenID *string         `json:"actorTokenId"`
	TargetType   string          `json:"targetType"`
	TargetID     string          `json:"targetId"`
	UserID       *string         `json:"userId"`
	SourceIP     *string         `json:"sourceIp"`
	UserAgent    *string         `json:"userAgent"`
	Changes      json.RawMessage `json:"changes"`
}
