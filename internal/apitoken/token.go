package apitoken

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Token is the metadata tokend keeps about an API token it issued. The token
// string itself is never stored: only its SHA-256 hash.
type Token struct {
	ID          string
	UserID      string
	Description string
	// Scope is the space-separated scope list, exactly as requested.
	Scope string
	// Expiration is when the token stops working. It starts as the token's
	// exp claim, ClaimExpiration, and can only move earlier.
	Expiration      time.Time
	ClaimExpiration time.Time
	// SourceIP is the comma-separated list of addresses and ranges the token
	// may be used from, or "" for anywhere.
	SourceIP  string
	Resources []Resource
	Enabled   bool
	RevokedAt *time.Time
	// LastUsedAt and LastUsedIP record the token's latest successful use;
	// RecentClients the latest use from each of the last few addresses.
	LastUsedAt    *time.Time
	LastUsedIP    string
	RecentClients []Client
	// RotatedFrom is the id of the token this one replaced, RotatedTo of
	// the token that replaced this one. RetirePrevious, on a token that
	// replaced another, says that its first successful use still has to
	// retire that one; it is cleared once it did.
	RotatedFrom, RotatedTo string
	RetirePrevious         bool
	// LeakedAt is when the token was reported leaked, LeakURL and
	// LeakSource where (see Leak).
	LeakedAt            *time.Time
	LeakURL, LeakSource string
	// KeyID is the PASERK id of the key that signed the token.
	KeyID string
	// Hash is the SHA-256 digest of the token string.
	Hash      []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MaxDescriptionLength is the longest a description may be, in characters.
const MaxDescriptionLength = 255

// Policy holds the limits a new token is checked against.
type Policy struct {
	Catalog     *Catalog
	MaxLifetime time.Duration
	Now         time.Time
}

// TokenRequest is a request to create a token: the attributes as the client
// sent them. Nil means absent.
type TokenRequest struct {
	Description *string
	Scope       *string
	Expiration  *string
	SourceIP    *string
	Resources   []Resource
}

// TokenSpec is a validated TokenRequest.
type TokenSpec struct {
	Description string
	Scope       string
	Scopes      []string
	Expiration  time.Time
	SourceIP    string
	Resources   []Resource
}

// Validate checks every attribute and returns the spec, or every problem
// found at once.
func (r TokenRequest) Validate(p Policy) (TokenSpec, error) {
	var errs Errors
	var spec TokenSpec

	if r.Description == nil {
		errs = append(errs, FieldErrorf("description", "description is required"))
	} else if err := checkDescription(*r.Description); err != nil {
		errs = append(errs, err)
	} else {
		spec.Description = *r.Description
	}

	if r.Scope == nil {
		errs = append(errs, FieldErrorf("scope", "scope is required"))
	} else if scopes, err := p.Catalog.ParseScope(*r.Scope); err != nil {
		errs = append(errs, FieldErrorf("scope", "scope %s", err))
	} else {
		spec.Scope, spec.Scopes = *r.Scope, scopes
	}

	if r.Expiration == nil {
		errs = append(errs, FieldErrorf("expiration", "expiration is required"))
	} else if exp, err := checkExpiration(*r.Expiration, p); err != nil {
		errs = append(errs, err)
	} else {
		spec.Expiration = exp
	}

	if r.SourceIP != nil {
		if _, err := ParseSourceIPs(*r.SourceIP); err != nil {
			errs = append(errs, FieldErrorf("sourceIp", "sourceIp %s", err))
		} else {
			spec.SourceIP = *r.SourceIP
		}
	}

	resErrs := checkResources(r.Resources)
	errs = append(errs, resErrs...)
	if len(resErrs) == 0 && len(r.Resources) > 0 {
		spec.Resources = r.Resources
	}
	return spec, errs.Err()
}

// TokenUpdate is a request to change a token. Nil means unchanged.
type TokenUpdate struct {
	Description *string
	Enabled     *bool
	Expiration  *string
}

// TokenChange is a validated TokenUpdate.
type TokenChange struct {
	Description *string
	Enabled     *bool
	Expiration  *time.Time
}

// Validate checks the update against the token's current state: the
// expiration may only move earlier, and stay in the future. With a nil
// current it checks only what does not depend on the token's state.
func (u TokenUpdate) Validate(current *Token, now time.Time) (TokenChange, error) {
	var errs Errors
	var ch TokenChange
	if u.Description != nil {
		if err := checkDescription(*u.Description); err != nil {
			errs = append(errs, err)
		} else {
			ch.Description = u.Description
		}
	}
	ch.Enabled = u.Enabled
	if u.Expiration != nil {
		exp, err := parseTime("expiration", *u.Expiration)
		switch {
		case err != nil:
			errs = append(errs, err)
		case current != nil && exp.After(current.Expiration):
			errs = append(errs, FieldErrorf("expiration", "expiration can only be moved earlier than %s", FormatTime(current.Expiration)))
		case !exp.After(now):
			errs = append(errs, FieldErrorf("expiration", "expiration must be in the future; revoke the token to end it now"))
		default:
			ch.Expiration = &exp
		}
	}
	return ch, errs.Err()
}

// Apply applies a validated change to the token.
func (ch TokenChange) Apply(t *Token) {
	if ch.Description != nil {
		t.Description = *ch.Description
	}
	if ch.Enabled != nil {
		t.Enabled = *ch.Enabled
	}
	if ch.Expiration != nil {
		t.Expiration = *ch.Expiration
	}
}

// checkExpiration parses a new token's expiration and checks that it is
// in the future and at most the maximum lifetime ahead.
func checkExpiration(s string, p Policy) (time.Time, *Error) {
	exp, err := parseTime("expiration", s)
	switch {
	case err != nil:
		return exp, err
	case !exp.After(p.Now):
		return exp, FieldErrorf("expiration", "expiration must be in the future")
	case exp.After(p.Now.Add(p.MaxLifetime)):
		return exp, FieldErrorf("expiration", "expiration must be at most %s ahead (no later than %s)",
			FormatDuration(p.MaxLifetime), FormatTime(p.Now.Add(p.MaxLifetime)))
	}
	return exp, nil
}

func checkDescription(d string) *Error {
	n := utf8.RuneCountInString(d)
	switch {
	case !utf8.ValidString(d):
		return FieldErrorf("description", "description must be valid UTF-8")
	case n < 1 || n > MaxDescriptionLength:
		return FieldErrorf("description", "description must be 1 to %d characters long; it has %d", MaxDescriptionLength, n)
	case strings.TrimSpace(d) == "":
		return FieldErrorf("description", "description must not be blank")
	case strings.IndexFunc(d, isControl) >= 0:
		return FieldErrorf("description", "description must not contain control characters")
	case strings.IndexFunc(d, isBidiControl) >= 0:
		return FieldErrorf("description", "description must not contain bidirectional text controls (U+202A to U+202E, U+2066 to U+2069), which make text display in another order than it reads")
	case strings.IndexFunc(d, isVisible) < 0:
		return FieldErrorf("description", "description must not be blank: it needs a visible character")
	}
	return nil
}

// isControl reports the C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// isBidiControl reports the explicit bidirectional embeddings, overrides
// and isolates, with which a description could display as something else
// (the "Trojan Source" trick).
func isBidiControl(r rune) bool { return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) }

// isVisible reports a character that shows: not white space, not a format
// character (zero-width spaces and joiners, marks), not a default-ignorable
// filler such as U+3164 HANGUL FILLER or U+115F.
func isVisible(r rune) bool {
	switch {
	case unicode.IsSpace(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r):
		return false
	case r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0 || r == 0x2800 || (r >= 0xfe00 && r <= 0xfe0f):
		return false // fillers and variation selectors that render as nothing
	}
	return unicode.IsGraphic(r)
}

// TimeFormat is how tokend writes times: RFC 3339 in UTC with milliseconds,
// like Unit's examples.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime formats t in TimeFormat.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeFormat)
}

// parseTime parses an RFC 3339 expiration and rounds it down to the
// second, the precision of a token's exp claim: the expiration tokend
// stores and shows is then exactly the one in the token.
func parseTime(field, s string) (time.Time, *Error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	// In UTC the year must still have four digits, or the time could not
	// be written back.
	if y := t.UTC().Year(); err != nil || !isRFC3339(s) || y < 0 || y > 9999 {
		return time.Time{}, FieldErrorf(field, "%s must be an RFC 3339 date-time such as 2027-07-01T13:47:17.000Z", field)
	}
	return t.UTC().Truncate(time.Second), nil
}

// isRFC3339 reports whether s is spelled as RFC 3339's date-time
// (section 5.6): two digits for every field but the year's four, a dot
// before the fraction, Z or a numeric offset. Go's time.Parse reads more,
// such as a one-digit hour or a comma before the fraction, which other
// readers of the same document may refuse.
func isRFC3339(s string) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(layout)+1 {
		return false
	}
	for i := 0; i < len(layout); i++ {
		switch c := s[i]; layout[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return false
			}
		default:
			if c != layout[i] {
				return false
			}
		}
	}
	rest := s[len(layout):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		return isDigits(rest[1:3]) && isDigits(rest[4:6])
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatDuration writes a duration in days when it is a whole number of
// them, as lifetimes usually are.
func FormatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		days := int64(d / (24 * time.Hour))
		return fmt.Sprintf("%d %s", days, plural(int(days), "day", "days"))
	}
	return d.String()
}

// TokenFilter selects the tokens a list returns.
type TokenFilter struct {
	// UserID restricts the list to one user's tokens; "" lists everyone's.
	UserID string
	// Statuses restricts the list to tokens in these states at Now; nil
	// means every status but revoked.
	Statuses []Status
	Now      time.Time
	// Newest lists the newest tokens first.
	Newest bool
	Limit  int
	// Offset skips that many tokens; After and Before instead start the
	// page just past, or end it just before, a token's place in the list
	// (keyset paging, which costs the same however deep the page). At most
	// one of the three is set.
	Offset        int
	After, Before *ListPosition
	// The inventory filters; nil or "" selects every token.
	Inventory
}

// Inventory narrows a list to the tokens an inventory looks for.
type Inventory struct {
	// ExpiresBefore selects the tokens whose expiration is before it.
	ExpiresBefore *time.Time
	// LastUsedBefore selects the tokens last used before it, or never.
	LastUsedBefore *time.Time
	// Leaked selects the tokens reported leaked (true) or not (false).
	Leaked *bool
	// Scope selects the tokens holding the scope.
	Scope string
}

// Any reports whether any inventory filter is set.
func (i Inventory) Any() bool {
	return i.ExpiresBefore != nil || i.LastUsedBefore != nil || i.Leaked != nil || i.Scope != ""
}

// ListPosition is a token's place in a list ordered by creation: its
// creation time, at the store's millisecond precision, then its id.
type ListPosition struct {
	CreatedAt time.Time
	ID        string
}

// PositionOf returns the token's place in a list.
func PositionOf(t *Token) ListPosition { return ListPosition{CreatedAt: t.CreatedAt, ID: t.ID} }

// TokenPage is a page of a list of tokens.
type TokenPage struct {
	Tokens []Token
	// Total is how many tokens the filter selects, on every page.
	Total int64
	// More reports, for a page after or before a position (or the first
	// page), that the list goes on past the page's last token, or, for a
	// page before a position, before its first.
	More bool
}

// Use is a successful use of a token: when, from which address (the zero
// Addr if unknown) and with which user agent ("" if unknown).
type Use struct {
	At        time.Time
	IP        netip.Addr
	UserAgent string
}
