package apitoken

import (
	"strings"
	"time"
)

// MaxRotationGrace is the longest a rotated token may keep working after
// its rotation.
const MaxRotationGrace = 7 * 24 * time.Hour

// RotationRequest is a request to rotate a token: the attributes as the
// client sent them. Nil means absent.
type RotationRequest struct {
	// Expiration is the new token's; by default the old token's lifetime
	// from now.
	Expiration *string
	// PreviousExpiration is when the old token stops working; by default
	// at once.
	PreviousExpiration *string
	// RetirePreviousOnFirstUse retires the old token at the new one's
	// first successful use, if that comes before PreviousExpiration.
	RetirePreviousOnFirstUse *bool
}

// Rotation is a validated RotationRequest for one token.
type Rotation struct {
	// Expiration is the new token's.
	Expiration time.Time
	// PreviousExpiration is when the old token stops working: now, or
	// later within MaxRotationGrace and its own expiration.
	PreviousExpiration time.Time
	// RetireOnFirstUse says that the new token's first successful use
	// retires the old one; it is false when the old one retires at once.
	RetireOnFirstUse bool
}

// CheckRotatable returns a conflict error unless the token can be rotated
// at now: it is neither revoked nor expired, nor rotated already. A
// disabled token can: its replacement is a new credential, and the
// disabled one stays disabled until it retires.
func (t *Token) CheckRotatable(now time.Time) error {
	switch {
	case t.RotatedTo != "":
		return Errorf(Conflict, "The token was rotated already, to %s; rotate that one.", t.RotatedTo)
	case t.RevokedAt != nil:
		return Errorf(Conflict, "The token has been revoked; it cannot be rotated.")
	case !now.Before(t.Expiration):
		return Errorf(Conflict, "The token has expired; it cannot be rotated.")
	}
	return nil
}

// Lifetime returns how long the token lives, from its creation to its
// expiration.
func (t *Token) Lifetime() time.Duration { return t.Expiration.Sub(t.CreatedAt) }

// RenewalLimit returns the latest expiration a rotation of the token at
// now grants by default: now plus the token's lifetime, to the second.
func (t *Token) RenewalLimit(now time.Time) time.Time {
	return now.Add(t.Lifetime()).UTC().Truncate(time.Second)
}

// Validate checks the request for rotating old at p.Now, which must be
// rotatable, and returns every problem at once. Without an expiration
// the new token gets the old one's lifetime from now, within the maximum
// lifetime and, when limit is not zero, no later than limit: the latest
// the caller may grant. With a nil old it checks only what does not
// depend on the token.
func (r RotationRequest) Validate(old *Token, p Policy, limit time.Time) (Rotation, error) {
	var errs Errors
	latest := p.Now.Add(p.MaxLifetime).UTC().Truncate(time.Second)
	rot := Rotation{PreviousExpiration: p.Now.UTC()}

	if r.Expiration != nil {
		if exp, err := checkExpiration(*r.Expiration, p); err != nil {
			errs = append(errs, err)
		} else {
			rot.Expiration = exp
		}
	} else if old != nil {
		rot.Expiration = old.RenewalLimit(p.Now)
		if rot.Expiration.After(latest) {
			rot.Expiration = latest
		}
		if !limit.IsZero() && rot.Expiration.After(limit) {
			rot.Expiration = limit.UTC().Truncate(time.Second)
		}
		if !rot.Expiration.After(p.Now) {
			errs = append(errs, FieldErrorf("expiration", "the new token would expire at once; give an expiration"))
		}
	}

	if r.PreviousExpiration != nil {
		prev, err := parseTime("previousExpiration", *r.PreviousExpiration)
		switch {
		case err != nil:
			errs = append(errs, err)
		case prev.Before(p.Now.Truncate(time.Second)):
			errs = append(errs, FieldErrorf("previousExpiration", "previousExpiration must not be in the past; leave it out to retire the token at once"))
		case prev.After(p.Now.Add(MaxRotationGrace)):
			errs = append(errs, FieldErrorf("previousExpiration", "previousExpiration must be at most %s ahead", FormatDuration(MaxRotationGrace)))
		case old != nil && prev.After(old.Expiration):
			errs = append(errs, FieldErrorf("previousExpiration", "previousExpiration must not be later than the token's own expiration, %s", FormatTime(old.Expiration)))
		case prev.After(p.Now):
			rot.PreviousExpiration = prev
		}
	}
	if r.RetirePreviousOnFirstUse != nil {
		rot.RetireOnFirstUse = *r.RetirePreviousOnFirstUse && rot.PreviousExpiration.After(p.Now)
	}
	return rot, errs.Err()
}

// Retire applies the rotation to the old token, which the token with the
// id newID replaces: it names its successor and stops working at the
// rotation's PreviousExpiration, if that is earlier than its own.
func (r Rotation) Retire(old *Token, newID string) {
	old.RotatedTo = newID
	if r.PreviousExpiration.Before(old.Expiration) {
		old.Expiration = r.PreviousExpiration
	}
}

// SuccessorSpec returns the spec of the token that replaces t for its
// user: the same description, scope, sourceIp and resources, and the
// rotation's expiration. Scopes the user may no longer hold are left out
// (they already do nothing in t); a token left with none cannot be
// rotated.
func (t *Token) SuccessorSpec(user *User, c *Catalog, rot Rotation) (TokenSpec, error) {
	spec := TokenSpec{Description: t.Description, Expiration: rot.Expiration, SourceIP: t.SourceIP, Resources: t.Resources}
	for s := range strings.FieldsSeq(t.Scope) {
		if user.MayHold(c, s) {
			spec.Scopes = append(spec.Scopes, s)
		}
	}
	if len(spec.Scopes) == 0 {
		return spec, Errorf(Conflict, "The user may hold none of the token's scopes any more; create a new token instead.")
	}
	spec.Scope = strings.Join(spec.Scopes, " ")
	return spec, nil
}
