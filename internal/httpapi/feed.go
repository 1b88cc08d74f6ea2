package httpapi

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/revfeed"
)

// feedPage is a page of the revocation feed in its JSON form.
type feedPage struct {
	// Cursor is what to send as ?cursor= next.
	Cursor string `json:"cursor"`
	// More says the next page should be fetched at once.
	More   bool        `json:"more"`
	Tokens []feedToken `json:"tokens"`
	Users  []feedUser  `json:"users"`
}

type feedToken struct {
	ID      string `json:"jti"`
	Subject string `json:"sub"`
	Revoked bool   `json:"revoked"`
	Enabled bool   `json:"enabled"`
	// Expiration is when the token stops working now; Exp its exp claim,
	// until which a verifier keeps the entry.
	Expiration string `json:"expiration"`
	Exp        string `json:"exp"`
}

type feedUser struct {
	Subject  string `json:"sub"`
	Disabled bool   `json:"disabled"`
}

// compressFeed gzips the feed's answers for clients that accept it, at
// the fastest level: a page of the compact form is mostly random ids,
// which no level shrinks much, and the JSON form's repetition is found at
// any level. Answers shorter than a packet are sent as they are. It is
// klauspost/compress's gzip, not the standard library's (which Echo's
// middleware uses): at its fastest level it compressed a page of 20,000
// compact tokens three times as fast, and smaller (about 17 bytes a token
// against 19), and a verifier's first sync waits for tokend to compress
// every page.
func compressFeed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		orig := res.Writer
		defer func() { res.Writer = orig }()
		gzipFeed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res.Writer = w
			// Errors are answered here, through the compressing writer,
			// before it is closed.
			if err := next(c); err != nil {
				c.Error(err)
			}
		})).ServeHTTP(orig, c.Request())
		return nil
	}
}

// gzipFeed wraps a handler with compressFeed's compression.
var gzipFeed = func() func(http.Handler) http.HandlerFunc {
	wrap, err := gzhttp.NewWrapper(gzhttp.MinSize(1400), gzhttp.CompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic(err) // the options are constants
	}
	return wrap
}()

// revocations handles GET /revocations, the feed offline verifiers keep
// their revocation state with: the current state of every token and user
// changed since ?cursor=. The caller needs the introspect scope. A client
// that accepts revfeed.MediaType gets pages in that compact form, of
// service.MaxFeedPage tokens unless ?limit= says fewer; others get JSON,
// of service.DefaultFeedPage tokens by default.
func (s *Server) revocations(c echo.Context) error {
	values, errs := queryParams(c, "cursor", "limit")
	if len(errs) > 0 {
		return errs
	}
	compact := acceptsCompactFeed(c.Request())
	limit := 0
	if compact {
		limit = service.MaxFeedPage
	}
	if v, ok := values["limit"]; ok {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > service.MaxFeedPage {
			return paramError("limit", "limit must be a whole number from 1 to %d.", service.MaxFeedPage)
		}
	}
	feed, err := s.svc.RevocationFeed(ctx(c), principalOf(c), values["cursor"], limit)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept")
	if compact {
		return writeCompactFeed(c, feed)
	}
	page := feedPage{Cursor: feed.Cursor, More: feed.More, Tokens: make([]feedToken, 0, len(feed.Tokens)), Users: make([]feedUser, 0, len(feed.Users))}
	for _, t := range feed.Tokens {
		page.Tokens = append(page.Tokens, feedTokenOf(t))
	}
	for _, u := range feed.Users {
		page.Users = append(page.Users, feedUser{Subject: u.ID, Disabled: u.Disabled})
	}
	return writeJSON(c, http.StatusOK, "application/json", page)
}

func feedTokenOf(t apitoken.TokenState) feedToken {
	return feedToken{ID: t.ID, Subject: t.UserID, Revoked: t.Revoked, Enabled: t.Enabled,
		Expiration: apitoken.FormatTime(t.Expiration), Exp: apitoken.FormatTime(t.ClaimExpiration)}
}

// writeCompactFeed answers the page in the compact form.
func writeCompactFeed(c echo.Context, feed service.Feed) error {
	page := revfeed.Page{Cursor: feed.Cursor, More: feed.More,
		Tokens: make([]revfeed.Token, len(feed.Tokens)), Users: make([]revfeed.User, len(feed.Users))}
	for i, t := range feed.Tokens {
		id, err := uuid.Parse(t.ID)
		if err != nil {
			return &apitoken.Error{Code: apitoken.Internal, Err: err}
		}
		page.Tokens[i] = revfeed.Token{ID: id, Revoked: t.Revoked, Enabled: t.Enabled,
			Expiration: t.Expiration.UnixMilli(), Exp: t.ClaimExpiration.UnixMilli()}
	}
	for i, u := range feed.Users {
		id, err := uuid.Parse(u.ID)
		if err != nil {
			return &apitoken.Error{Code: apitoken.Internal, Err: err}
		}
		page.Users[i] = revfeed.User{ID: id, Disabled: u.Disabled}
	}
	body, err := revfeed.Append(make([]byte, 0, revfeed.Size(&page)), &page)
	if err != nil {
		return &apitoken.Error{Code: apitoken.Internal, Err: err}
	}
	h := c.Response().Header()
	h.Set("Content-Type", revfeed.MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(body)
	return err
}

// acceptsCompactFeed reports whether the request's Accept header names
// revfeed.MediaType with a quality above zero.
func acceptsCompactFeed(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != revfeed.MediaType {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}
