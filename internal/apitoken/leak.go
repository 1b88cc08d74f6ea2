package apitoken

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Leak is a report that a token was found where it should not be, such as
// a public repository: where (URL) and what found it (Source).
type Leak struct {
	URL, Source string
}

// Limits on what tokend keeps of a leak report, in bytes.
const (
	MaxLeakURLLength    = 2048
	MaxLeakSourceLength = 255
)

// Mark marks the token leaked at at: it is revoked, if it was not, and
// keeps the first report of its leak; later reports change nothing.
func (l Leak) Mark(t *Token, at time.Time) {
	if t.RevokedAt == nil {
		t.RevokedAt = &at
	}
	if t.LeakedAt == nil {
		t.LeakedAt = &at
		t.LeakURL = clip(l.URL, MaxLeakURLLength)
		t.LeakSource = clip(l.Source, MaxLeakSourceLength)
	}
}

// clip returns s as tokend keeps reported text: valid UTF-8, without
// control characters, at most max bytes, cut at a character's boundary.
func clip(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) || isBidiControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > max {
		// A cut inside a character leaves an incomplete sequence of at
		// most three bytes at the end.
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
