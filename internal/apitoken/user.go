package apitoken

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Role is what a user may do in tokend.
type Role string

// The roles. An admin may act for any user; a member only for itself.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// User owns API tokens.
type User struct {
	ID    string
	Email string
	Role  Role
	// Scopes lists the scopes the user's tokens may carry; nil means the
	// catalog's default for the role.
	Scopes []string
	// Service marks a non-interactive user, one that only uses the API.
	Service bool
	// Disabled users cannot authenticate; their tokens are refused.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AllowedScopes returns the scopes the user's tokens may carry.
func (u *User) AllowedScopes(c *Catalog) []string {
	if u.Scopes == nil {
		return slices.Clone(c.Default(u.Role))
	}
	var allowed []string
	for _, s := range u.Scopes {
		// A catalog change may drop a scope; so may a role change.
		if c.Has(s) && (u.Role == RoleAdmin || !slices.Contains(AdminOnlyScopes, s)) {
			allowed = append(allowed, s)
		}
	}
	return allowed
}

// MayHold reports whether the user's tokens may carry the scope now: the
// catalog lists it, the user's list (or its role's default) holds it, and
// it is not admin-only for a member. It is AllowedScopes for one scope,
// without building the list.
func (u *User) MayHold(c *Catalog, scope string) bool {
	if !c.Has(scope) || (u.Role != RoleAdmin && slices.Contains(AdminOnlyScopes, scope)) {
		return false
	}
	if u.Scopes == nil {
		return u.Role == RoleAdmin || !slices.Contains(OptInScopes, scope)
	}
	return slices.Contains(u.Scopes, scope)
}

// UserRequest is a request to create a user.
type UserRequest struct {
	Email string
	Role  string
	// Scopes, when set, is the space-separated list of scopes the user may
	// hold; unset means the catalog's default for the role.
	Scopes  *string
	Service bool
}

// Validate checks the request and returns the user it describes, or every
// problem found.
func (r UserRequest) Validate(c *Catalog) (User, error) {
	var errs Errors
	u := User{Role: Role(r.Role), Service: r.Service}

	email := strings.TrimSpace(r.Email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 {
		errs = append(errs, FieldErrorf("email", "email must be a plain email address such as ops@example.com"))
	} else {
		u.Email = strings.ToLower(email)
	}

	if u.Role != RoleAdmin && u.Role != RoleMember {
		errs = append(errs, FieldErrorf("role", "role must be %q or %q", RoleAdmin, RoleMember))
	}

	if r.Scopes != nil {
		scopes, err := c.ParseScope(*r.Scopes)
		switch {
		case err != nil:
			errs = append(errs, FieldErrorf("scopes", "scopes %s", err))
		case u.Role != RoleAdmin && len(Intersect(scopes, AdminOnlyScopes)) > 0:
			errs = append(errs, FieldErrorf("scopes", "scopes %s may only be held by admins", QuoteList(AdminOnlyScopes)))
		default:
			u.Scopes = scopes
		}
	}
	return u, errs.Err()
}

// UserUpdate is a request to change a user. Nil means unchanged.
type UserUpdate struct {
	Role     *string
	Scopes   *string
	Service  *bool
	Disabled *bool
}

// Apply checks the attributes the update changes, and only those, and
// applies them to u; on error u is unchanged. What the update leaves alone
// is not checked again: a user whose scopes include one the catalog has
// since dropped can still be disabled. A user demoted to member keeps its
// explicit scopes but the admin-only ones.
func (up UserUpdate) Apply(u *User, c *Catalog) error {
	var errs Errors
	next := *u
	if up.Role != nil {
		switch r := Role(*up.Role); r {
		case RoleAdmin, RoleMember:
			next.Role = r
		default:
			errs = append(errs, FieldErrorf("role", "role must be %q or %q", RoleAdmin, RoleMember))
		}
	}
	switch {
	case up.Scopes != nil:
		scopes, err := c.ParseScope(*up.Scopes)
		switch {
		case err != nil:
			errs = append(errs, FieldErrorf("scopes", "scopes %s", err))
		case next.Role != RoleAdmin && len(Intersect(scopes, AdminOnlyScopes)) > 0:
			errs = append(errs, FieldErrorf("scopes", "scopes %s may only be held by admins", QuoteList(AdminOnlyScopes)))
		default:
			next.Scopes = scopes
		}
	case next.Role != RoleAdmin && next.Scopes != nil:
		next.Scopes = Subtract(next.Scopes, AdminOnlyScopes)
		if next.Scopes == nil {
			next.Scopes = []string{}
		}
	}
	if up.Service != nil {
		next.Service = *up.Service
	}
	if up.Disabled != nil {
		next.Disabled = *up.Disabled
	}
	if len(errs) > 0 {
		return errs
	}
	*u = next
	return nil
}
