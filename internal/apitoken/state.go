package apitoken

import "time"

// TokenState is what a verifier holding a token needs to know beyond the
// token's claims: whether it was revoked or disabled, and when it expires
// now. Change is the number of the token's latest change.
type TokenState struct {
	ID, UserID       string
	Revoked, Enabled bool
	// Expiration is when the token stops working; ClaimExpiration its exp
	// claim, the latest Expiration can be.
	Expiration, ClaimExpiration time.Time
	Change                      int64
}

// UserState is whether a user is disabled, as of its latest change.
type UserState struct {
	ID       string
	Disabled bool
	Change   int64
}

// Position is a place in the sequence of changes, as the revocation feed
// pages through it: past every change numbered up to Change and, when ID is
// set, no further than the row with that id among those of change Change.
type Position struct {
	Change int64
	ID     string
}
