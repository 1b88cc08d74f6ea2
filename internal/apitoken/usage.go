package apitoken

import (
	"slices"
	"time"
)

// MaxRecentClients is how many distinct client addresses a token's
// RecentClients keeps.
const MaxRecentClients = 5

// MaxUserAgentLength bounds the user agent kept of a client, in bytes:
// enough for any real browser's or library's, and a bound on what a
// client can make tokend store.
const MaxUserAgentLength = 256

// Client is a token's latest use from one address: when, and with which
// user agent.
type Client struct {
	IP        string
	UserAgent string
	At        time.Time
}

// Usage is what a replica gathered of a token's uses since it last wrote
// them: the latest use, and the latest use from each of the last
// MaxRecentClients addresses.
type Usage struct {
	Latest  Use
	Clients []Client
}

// Add adds a use to the usage.
func (u *Usage) Add(use Use) {
	if u.Latest.At.IsZero() || !use.At.Before(u.Latest.At) {
		u.Latest = use
	}
	if use.IP.IsValid() {
		u.Clients = MergeClients(u.Clients, []Client{{IP: use.IP.String(), UserAgent: CleanUserAgent(use.UserAgent), At: use.At}})
	}
}

// Merge adds the uses of other to the usage.
func (u *Usage) Merge(other Usage) {
	if u.Latest.At.IsZero() || !other.Latest.At.Before(u.Latest.At) {
		u.Latest = other.Latest
	}
	u.Clients = MergeClients(u.Clients, other.Clients)
}

// MergeClients returns the latest use from each of the last
// MaxRecentClients distinct addresses among a and b, newest first. Of two
// uses from one address the later wins; at the same time, b's.
func MergeClients(a, b []Client) []Client {
	out := make([]Client, 0, min(len(a)+len(b), MaxRecentClients+1))
	add := func(c Client) {
		if i := slices.IndexFunc(out, func(o Client) bool { return o.IP == c.IP }); i >= 0 {
			if out[i].At.After(c.At) {
				return
			}
			out = slices.Delete(out, i, i+1)
		}
		out = append(out, c)
	}
	for _, c := range a {
		add(c)
	}
	for _, c := range b {
		add(c)
	}
	slices.SortStableFunc(out, func(x, y Client) int { return y.At.Compare(x.At) })
	if len(out) > MaxRecentClients {
		out = out[:MaxRecentClients]
	}
	return out
}

// CleanUserAgent returns a user agent as tokend keeps it: valid UTF-8
// without control characters, at most MaxUserAgentLength bytes.
func CleanUserAgent(ua string) string { return clip(ua, MaxUserAgentLength) }
