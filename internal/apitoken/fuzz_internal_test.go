package apitoken

import (
	"regexp"
	"testing"
	"time"
)

// rfc3339 is RFC 3339's date-time grammar (section 5.6), which every
// time tokend accepts must match: Go's time.Parse reads more, such as a
// comma before the fraction.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$`)

// FuzzParseTime checks the parser of expirations: it accepts only RFC 3339
// date-times, in whole seconds of UTC, and what it returns tokend writes
// in its own format and reads back unchanged.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2027-07-01T13:47:17.000Z", "2027-07-01T13:47:17Z", "2027-07-01t13:47:17.5+02:00",
		"2027-07-01T13:47:17,5Z", "2027-07-01 13:47:17Z", "2027-02-30T00:00:00Z", "2027-07-01T24:00:00Z",
		"2027-07-01T13:47:17.123456789-23:59", "0000-01-01T00:00:00Z", "2027-07-01T13:47:17+0200", "now"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime("expiration", s)
		if err != nil {
			if err.Field != "expiration" || err.Code != Invalid {
				t.Fatalf("parseTime(%q) failed without naming the field: %+v", s, err)
			}
			return
		}
		if !rfc3339.MatchString(s) {
			t.Fatalf("parseTime accepted %q, which is not an RFC 3339 date-time", s)
		}
		if got.Location() != time.UTC || got.Nanosecond() != 0 {
			t.Fatalf("parseTime(%q) = %v, want whole seconds of UTC", s, got)
		}
		again, err := parseTime("expiration", got.Format(TimeFormat))
		if err != nil || !again.Equal(got) {
			t.Fatalf("parseTime(%q) = %v, written %q, reads back as %v, %v", s, got, got.Format(TimeFormat), again, err)
		}
	})
}
