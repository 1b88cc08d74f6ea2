package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/store"
)

// Introspect reports on a token for a downstream service, as RFC 7662
// introspection does: the token's principal if it is active, nil if it is
// not, for whatever reason. A token bound to source addresses is active only
// when clientIP, the address the downstream service saw, is one of them.
// An active token's use is recorded. The caller needs the introspect scope.
func (s *Service) Introspect(ctx context.Context, caller *Principal, raw string, clientIP netip.Addr) (*Principal, error) {
	if !caller.HasScope(apitoken.ScopeIntrospect) {
		return nil, missingScope(apitoken.ScopeIntrospect)
	}
	p, err := s.Authenticate(ctx, raw, clientIP)
	switch apitoken.ErrorCode(err) {
	case "":
		s.RecordUse(p)
		return p, nil
	case apitoken.Unauthorized, apitoken.Forbidden:
		return nil, nil
	}
	return nil, err
}

// FeedMargin is how far back each round of the revocation feed reaches
// before the previous round's end. A change is stamped when its transaction
// starts and becomes visible when it commits; the margin covers the longest
// transaction (requests time out after 10 s) and clock skew between
// replicas, so that no change committed late is ever skipped. Changes in the
// margin are sent twice, which is harmless: entries are states, not events.
const FeedMargin = 30 * time.Second

// MaxFeedPage is the most tokens one page of the feed holds.
const MaxFeedPage = 1000

// Feed is one page of the revocation feed: the current state of tokens and
// users changed since the cursor the client sent.
type Feed struct {
	Tokens []store.TokenState
	Users  []store.UserState
	// Cursor is what the client sends next.
	Cursor string
	// More says another page follows at once; otherwise the client waits
	// for its next sync.
	More bool
}

// feedCursor is the feed's position, opaque to clients.
type feedCursor struct {
	// Since is the start of the round, in Unix milliseconds; 0 asks for
	// the snapshot of every token and user that is not in its default state.
	Since int64 `json:"s"`
	// AfterAt and AfterID are the last token of the previous page of the
	// round.
	AfterAt int64  `json:"t,omitempty"`
	AfterID string `json:"i,omitempty"`
	// Next is where the following round starts.
	Next int64 `json:"n,omitempty"`
}

// RevocationFeed returns the next page of token and user states for a
// verifier that keeps its own copy of revocations. An empty cursor starts
// with a snapshot. The caller needs the introspect scope.
func (s *Service) RevocationFeed(ctx context.Context, caller *Principal, cursor string, limit int) (Feed, error) {
	if !caller.HasScope(apitoken.ScopeIntrospect) {
		return Feed{}, missingScope(apitoken.ScopeIntrospect)
	}
	cur, err := decodeCursor(cursor)
	if err != nil {
		return Feed{}, err
	}
	if limit <= 0 || limit > MaxFeedPage {
		limit = MaxFeedPage
	}
	now := s.now()
	firstPage := cur.AfterID == ""
	if firstPage {
		cur.Next = now.Add(-FeedMargin).UnixMilli()
	}
	since := time.Time{}
	if cur.Since > 0 {
		since = time.UnixMilli(cur.Since)
	}
	after := store.Position{ID: cur.AfterID}
	if cur.AfterID != "" {
		after.At = time.UnixMilli(cur.AfterAt)
	}

	var feed Feed
	// Tokens that expired before now need no revocation: every verifier
	// refuses them already.
	feed.Tokens, err = s.tokens.ChangedTokens(ctx, since, after, now.Add(-Leeway), limit+1)
	if err != nil {
		return Feed{}, err
	}
	if firstPage {
		if feed.Users, err = s.users.ChangedUsers(ctx, since, 1<<20); err != nil {
			return Feed{}, err
		}
	}
	next := feedCursor{Since: cur.Next}
	if len(feed.Tokens) > limit {
		feed.Tokens = feed.Tokens[:limit]
		last := feed.Tokens[limit-1]
		next = feedCursor{Since: cur.Since, AfterAt: last.UpdatedAt.UnixMilli(), AfterID: last.ID, Next: cur.Next}
		feed.More = true
	}
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
	if err != nil || json.Unmarshal(b, &c) != nil || c.Since < 0 || (c.AfterID != "" && !ValidID(c.AfterID)) {
		return c, &apitoken.Error{Code: apitoken.Invalid, Parameter: "cursor", Detail: "cursor is not one this feed returned."}
	}
	return c, nil
}
