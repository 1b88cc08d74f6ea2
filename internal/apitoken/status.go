package apitoken

import "time"

// Status is a token's state as shown to clients.
type Status string

// The token statuses. Revoked wins over expired, and expired over disabled:
// the status names the most permanent reason a token does not work.
const (
	StatusActive   Status = "active"
	StatusExpired  Status = "expired"
	StatusDisabled Status = "disabled"
	StatusRevoked  Status = "revoked"
)

// Statuses lists every status.
var Statuses = []Status{StatusActive, StatusExpired, StatusDisabled, StatusRevoked}

// Listed are the statuses lists show unless a filter asks for others: all
// but revoked.
var Listed = []Status{StatusActive, StatusExpired, StatusDisabled}

// StatusRule defines a status by the facts of a token in it. Token.Status
// applies the rules, and the store turns the same rules into the conditions
// of its queries, so the rule is written once.
type StatusRule struct {
	Status Status
	// Revoked, Expired and Enabled are the facts the status requires;
	// nil means any.
	Revoked, Expired, Enabled *bool
}

var yes, no = true, false

// StatusRules are the rules of every status. They exclude one another, so
// their order does not matter.
var StatusRules = []StatusRule{
	{Status: StatusRevoked, Revoked: &yes},
	{Status: StatusExpired, Revoked: &no, Expired: &yes},
	{Status: StatusDisabled, Revoked: &no, Expired: &no, Enabled: &no},
	{Status: StatusActive, Revoked: &no, Expired: &no, Enabled: &yes},
}

// Rule returns the status's rule.
func (s Status) Rule() StatusRule {
	for _, r := range StatusRules {
		if r.Status == s {
			return r
		}
	}
	panic("apitoken: unknown status " + string(s))
}

// Status returns the token's status at the given time: a token is expired
// from its expiration on.
func (t *Token) Status(now time.Time) Status {
	return StatusOf(t.RevokedAt != nil, !now.Before(t.Expiration), t.Enabled)
}

// StatusOf returns the status of a token with these facts.
func StatusOf(revoked, expired, enabled bool) Status {
	for _, r := range StatusRules {
		if holds(r.Revoked, revoked) && holds(r.Expired, expired) && holds(r.Enabled, enabled) {
			return r.Status
		}
	}
	panic("apitoken: the status rules leave a token without a status")
}

func holds(want *bool, fact bool) bool { return want == nil || *want == fact }
