package apitoken

import (
	"fmt"
	"time"
)

// Grantor is a token asking for a new one: whose it is and what it holds.
type Grantor struct {
	UserID string
	// Scopes are the scopes the token holds that its user may still hold.
	Scopes     []string
	Expiration time.Time
	SourceIP   string
	Resources  []Resource
}

// CheckGrant enforces the no-escalation rules on a token the grantor asks
// for the target user, with the validated spec:
//   - its scopes must be ones the target may hold;
//   - minting for its own user, or for an admin, the grantor can grant no
//     scope it does not hold and no time beyond its own expiration:
//     otherwise a narrow admin token could mint a broad one for a second
//     admin, whose token could then mint a broad one back;
//   - a grantor restricted by sourceIp or resources mints, for any user,
//     only tokens restricted at least as narrowly.
//
// It returns every rule the request breaks, as forbidden errors about the
// attributes at fault.
func CheckGrant(g Grantor, target *User, c *Catalog, spec TokenSpec) error {
	var errs Errors
	forbid := func(field, format string, args ...any) {
		errs = append(errs, &Error{Code: Forbidden, Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if extra := Subtract(spec.Scopes, target.AllowedScopes(c)); len(extra) > 0 {
		forbid("scope", "The user may not hold %s.", QuoteList(extra))
	} else if g.binds(target) {
		if extra := Subtract(spec.Scopes, g.Scopes); len(extra) > 0 {
			forbid("scope", "A token cannot grant scopes it does not hold: %s.", QuoteList(extra))
		}
	}
	if limit := g.Limit(target); !limit.IsZero() && spec.Expiration.After(limit) {
		forbid("expiration", "A token cannot create one that outlives it; this token expires at %s.", FormatTime(limit))
	}
	if !sourceIPWithin(spec.SourceIP, g.SourceIP) {
		forbid("sourceIp", "A token restricted to %s can only create tokens restricted within it.", g.SourceIP)
	}
	if !resourcesWithin(spec.Resources, g.Resources) {
		forbid("resources", "A token restricted to resources can only create tokens restricted to some of them.")
	}
	return errs.Err()
}

// binds reports whether the grantor's own scopes and expiration bound what
// it grants the target: for its own user, and for any admin.
func (g Grantor) binds(target *User) bool {
	return g.UserID == target.ID || target.Role == RoleAdmin
}

// Grant is the most a grantor may put in a new token for a user: the
// scopes it may give, the latest expiration, and the restrictions the new
// token must stay within (none when SourceIP and Resources are empty).
type Grant struct {
	Scopes        []string
	MaxExpiration time.Time
	SourceIP      string
	Resources     []Resource
}

// GrantFor returns the most CheckGrant lets the grantor give the target
// in a new token, latest being the latest expiration the policy allows
// (now plus the maximum lifetime). A token of the Grant's scopes (or some
// of them), expiring at or before MaxExpiration, restricted as the Grant
// says, passes CheckGrant. Clients use it to offer only what will be
// accepted.
func (g Grantor) GrantFor(target *User, c *Catalog, latest time.Time) Grant {
	grant := Grant{Scopes: target.AllowedScopes(c), MaxExpiration: latest, SourceIP: g.SourceIP, Resources: g.Resources}
	if g.binds(target) {
		grant.Scopes = Intersect(grant.Scopes, g.Scopes)
		if g.Expiration.Before(grant.MaxExpiration) {
			grant.MaxExpiration = g.Expiration
		}
	}
	// Expirations are kept to the second, rounded down.
	grant.MaxExpiration = grant.MaxExpiration.Truncate(time.Second)
	return grant
}

// Limit returns the latest expiration the grantor may give a token of the
// target, or the zero time when only the maximum lifetime bounds it:
// minting for its own user, or for an admin, a token grants no time beyond
// its own expiration (see CheckGrant).
func (g Grantor) Limit(target *User) time.Time {
	if g.binds(target) {
		return g.Expiration
	}
	return time.Time{}
}
