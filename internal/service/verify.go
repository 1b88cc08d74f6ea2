package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/netip"

	"github.com/tokend/tokend/internal/apitoken"
)

// Introspect reports on a token for a downstream service, as RFC 7662
// introspection does: the token's principal if it is active, nil if it is
// not, for whatever reason. A token bound to source addresses is active only
// when clientIP, the address the downstream service saw, is one of them.
// The caller needs the introspect scope, and records the use of an active
// token (RecordUse).
func (s *Service) Introspect(ctx context.Context, caller *Principal, raw string, clientIP netip.Addr) (*Principal, error) {
	if !caller.HasScope(apitoken.ScopeIntrospect) {
		return nil, missingScope(apitoken.ScopeIntrospect)
	}
	p, err := s.Authenticate(ctx, raw, clientIP)
	switch apitoken.ErrorCode(err) {
	case "":
		return p, nil
	case apitoken.Unauthorized, apitoken.Forbidden:
		return nil, nil
	}
	return nil, err
}

// Page sizes of the revocation feed, in tokens, and in users, a page
// holds: at most MaxFeedPage, DefaultFeedPage unless the client asks. A
// page of MaxFeedPage tokens is read in about 70 ms on SQLite, far within
// the 2 s bound of a database call even on a busy machine (a page of
// 50,000 once passed it there), and fewer pages save little: a page's own
// cost, beyond its rows, is a millisecond.
const (
	MaxFeedPage     = 20_000
	DefaultFeedPage = 10_000
)

// Feed is one page of the revocation feed: the current state of tokens and
// users changed since the cursor the client sent.
type Feed struct {
	Tokens []apitoken.TokenState
	Users  []apitoken.UserState
	// Cursor is what the client sends next.
	Cursor string
	// More says another page follows at once; otherwise the client waits
	// for its next sync.
	More bool
}

// feedCursor is the feed's position in the sequence of changes, for tokens
// and for users, opaque to clients.
type feedCursor struct {
	Tokens apitoken.Position `json:"t"`
	Users  apitoken.Position `json:"u"`
}

// RevocationFeed returns the next page of token and user states for a
// verifier that keeps its own copy of revocations. An empty cursor starts
// with a snapshot: every token changed since it was created whose exp
// claim has not passed, and every user ever changed. The feed follows the
// one sequence of changes the store numbers in commit order, so a client
// that follows the cursors misses no change. The caller needs the
// introspect scope.
func (s *Service) RevocationFeed(ctx context.Context, caller *Principal, cursor string, limit int) (Feed, error) {
	if !caller.HasScope(apitoken.ScopeIntrospect) {
		return Feed{}, missingScope(apitoken.ScopeIntrospect)
	}
	cur, err := decodeCursor(cursor)
	if err != nil {
		return Feed{}, err
	}
	if limit <= 0 {
		limit = DefaultFeedPage
	}
	limit = min(limit, MaxFeedPage)
	// Every change up to latest is committed, so a list that ends before
	// the limit has delivered everything up to it.
	latest, err := s.changes.ChangeSeq(ctx)
	if err != nil {
		return Feed{}, err
	}
	var feed Feed
	// Tokens whose exp claim passed need no revocation: every verifier
	// refuses them already.
	if feed.Tokens, err = s.tokens.ChangedTokens(ctx, cur.Tokens, s.now().Add(-Leeway), limit+1); err != nil {
		return Feed{}, err
	}
	if feed.Users, err = s.users.ChangedUsers(ctx, cur.Users, limit+1); err != nil {
		return Feed{}, err
	}
	next := feedCursor{Tokens: apitoken.Position{Change: latest}, Users: apitoken.Position{Change: latest}}
	if len(feed.Tokens) > limit {
		feed.Tokens = feed.Tokens[:limit]
		last := feed.Tokens[limit-1]
		next.Tokens, feed.More = apitoken.Position{Change: last.Change, ID: last.ID}, true
	}
	if len(feed.Users) > limit {
		feed.Users = feed.Users[:limit]
		last := feed.Users[limit-1]
		next.Users, feed.More = apitoken.Position{Change: last.Change, ID: last.ID}, true
	}
	// A list cut short ends at its last row; one that did not may reach
	// past latest, and is read again from latest: entries are states, so
	// reading one twice is harmless.
	feed.Cursor = encodeCursor(next)
	return feed, nil
}

func encodeCursor(c feedCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (feedCursor, error) {
	var c feedCursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	valid := func(p apitoken.Position) bool { return p.Change >= 0 && (p.ID == "" || ValidID(p.ID)) }
	if err != nil || json.Unmarshal(b, &c) != nil || !valid(c.Tokens) || !valid(c.Users) {
		return c, &apitoken.Error{Code: apitoken.Invalid, Parameter: "cursor", Detail: "cursor is not one this feed returned."}
	}
	return c, nil
}
