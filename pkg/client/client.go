// Package client is a Go client of tokend's management API: a user's
// tokens, users, and the public keys. It speaks JSON:API over HTTP with a
// bearer token, and returns tokend's refusals as *Error, which carries the
// JSON:API error objects and their codes (package errcode), which CodeOf
// reads:
//
//	c := client.New("https://tokens.example.com", os.Getenv("TOKEND_TOKEN"))
//	tok, err := c.CreateToken(ctx, userID, client.TokenRequest{
//		Description: "CI", Scope: "customers", Expiration: time.Now().Add(720 * time.Hour),
//	})
//	if client.CodeOf(err) == errcode.Forbidden { … }
//	fmt.Println(tok.Token) // the token string, shown this once
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/pkg/errcode"
)

// mediaType is JSON:API's.
const mediaType = "application/vnd.api+json"

// maxResponse bounds what the client reads of an answer.
const maxResponse = 8 << 20

// Client calls one tokend with one token. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	// HTTP is the client requests go through; New sets one with a
	// 30-second timeout.
	HTTP *http.Client
}

// New returns a client of the tokend at baseURL (such as
// https://tokens.example.com) acting with the token.
func New(baseURL, token string) *Client {
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Token is an API token as tokend shows it. Token, the token string, is
// set only in the answer to its creation.
type Token struct {
	ID          string     `json:"id"`
	UserID      string     `json:"userId"`
	Description string     `json:"description"`
	Scope       string     `json:"scope"`
	Expiration  time.Time  `json:"expiration"`
	SourceIP    string     `json:"sourceIp,omitempty"`
	Resources   []Resource `json:"resources,omitempty"`
	Status      string     `json:"status"` // active, disabled, expired or revoked
	Enabled     bool       `json:"enabled"`
	CreatedAt   time.Time  `json:"createdAt"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
	LastUsedAt  *time.Time `json:"lastUsedAt,omitempty"`
	LastUsedIP  string     `json:"lastUsedIp,omitempty"`
	Token       string     `json:"token,omitempty"`
	// RotatedFrom is the id of the token this one replaced, RotatedTo
	// of the token that replaced this one.
	RotatedFrom string `json:"rotatedFrom,omitempty"`
	RotatedTo   string `json:"rotatedTo,omitempty"`
	// LeakedAt is when the token was reported leaked, LeakURL and
	// LeakSource where.
	LeakedAt   *time.Time `json:"leakedAt,omitempty"`
	LeakURL    string     `json:"leakUrl,omitempty"`
	LeakSource string     `json:"leakSource,omitempty"`
	// RecentClients are the latest use from each of the token's last
	// few client addresses, newest first.
	RecentClients []RecentClient `json:"recentClients,omitempty"`
}

// RecentClient is a token's latest use from one address.
type RecentClient struct {
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent,omitempty"`
	UsedAt    time.Time `json:"usedAt"`
}

// TokenRotation describes a rotation; zero fields take tokend's defaults.
type TokenRotation struct {
	// Expiration is the new token's; by default the old one's lifetime
	// from now.
	Expiration time.Time
	// PreviousExpiration is when the old token stops working, at most 7
	// days ahead; by default at once.
	PreviousExpiration time.Time
	// RetirePreviousOnFirstUse retires the old token at the new one's
	// first successful use, if sooner.
	RetirePreviousOnFirstUse bool
}

// Resource restricts a token to some resources of a type.
type Resource struct {
	Type string   `json:"type"`
	IDs  []string `json:"ids"`
}

// TokenRequest describes a new token.
type TokenRequest struct {
	Description string
	Scope       string // scopes separated by single spaces
	Expiration  time.Time
	SourceIP    string     // addresses or CIDR ranges separated by spaces; "" for none
	Resources   []Resource // nil for none
}

// TokenUpdate changes a token; nil fields stay as they are. An expiration
// may only move earlier.
type TokenUpdate struct {
	Description *string
	Enabled     *bool
	Expiration  *time.Time
}

// User is a tokend user.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"` // admin or member
	Scopes    string    `json:"scopes"`
	Service   bool      `json:"service"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// UserRequest describes a new user. Scopes nil means the role's default.
type UserRequest struct {
	Email   string
	Role    string
	Scopes  *string
	Service bool
}

// UserUpdate changes a user; nil fields stay as they are.
type UserUpdate struct {
	Role     *string
	Scopes   *string
	Service  *bool
	Disabled *bool
}

// Page selects a page of a list: Limit 0 means tokend's default.
type Page struct {
	Limit, Offset int
	// After is a cursor from an earlier page (token and audit event
	// lists only): the page starts just past it. It excludes Offset.
	After string
}

// TokenFilter narrows a list of tokens. Statuses nil lists every status
// but revoked; the zero value of each inventory filter selects every
// token.
type TokenFilter struct {
	Page
	Statuses []string
	Newest   bool
	// ExpiresBefore selects the tokens expiring before it,
	// LastUsedBefore those last used before it or never, Leaked those
	// reported leaked (true) or not (false), Scope those holding it.
	ExpiresBefore, LastUsedBefore time.Time
	Leaked                        *bool
	Scope                         string
}

// Error is a refusal by tokend: the HTTP status and the JSON:API error
// objects.
type Error struct {
	Status int
	Errors []ErrorObject
	// RetryAfter is how long tokend asked to wait, for 429 and 503.
	RetryAfter time.Duration
}

// ErrorObject is one JSON:API error object.
type ErrorObject struct {
	Status string `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Source *struct {
		Pointer   string `json:"pointer,omitempty"`
		Parameter string `json:"parameter,omitempty"`
	} `json:"source,omitempty"`
}

// Code returns the code of the error's first object.
func (e *Error) Code() errcode.Code {
	if len(e.Errors) == 0 {
		if c, ok := errcode.ForStatus(e.Status); ok {
			return c
		}
		return errcode.Internal
	}
	return errcode.Code(e.Errors[0].Code)
}

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("tokend: %d %s", e.Status, http.StatusText(e.Status))
	}
	parts := make([]string, len(e.Errors))
	for i, o := range e.Errors {
		parts[i] = o.Detail
		if o.Source != nil && o.Source.Pointer != "" {
			parts[i] += " (" + o.Source.Pointer + ")"
		}
	}
	return fmt.Sprintf("tokend: %s: %s", e.Code(), strings.Join(parts, "; "))
}

// CodeOf returns the code of a refusal by tokend, or "" for any other
// error (a network failure, a canceled context).
func CodeOf(err error) errcode.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return ""
}

// resource is a JSON:API resource object as tokend writes it.
type resource struct {
	Type          string          `json:"type"`
	ID            string          `json:"id,omitempty"`
	Attributes    json.RawMessage `json:"attributes,omitempty"`
	Relationships *struct {
		User struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		} `json:"user"`
	} `json:"relationships,omitempty"`
}

// listMeta is what a list answer says of the list beside its page, or a
// revoke-all answer of what it revoked.
type listMeta struct {
	Total int
	// Next is the cursor of links.next (page[after]), "" on the last page
	// or when the next link is by offset.
	Next string
	// Revoked is meta.revoked.
	Revoked int
}

// do sends a request and decodes a JSON:API answer's data into out, a
// *resource or *[]resource, when out is not nil, and what its meta and
// links say into list when list is not nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any, list *listMeta) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(map[string]any{"data": body})
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", mediaType)
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return errorOf(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return err
	}
	if out == nil && list == nil {
		return nil
	}
	var doc struct {
		Data json.RawMessage `json:"data"`
		Meta struct {
			Pagination struct {
				Total int `json:"total"`
			} `json:"pagination"`
			Revoked int `json:"revoked"`
		} `json:"meta"`
		Links struct {
			Next string `json:"next"`
		} `json:"links"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("tokend: the answer to %s %s is not JSON: %w", method, path, err)
	}
	if list != nil {
		list.Total, list.Revoked = doc.Meta.Pagination.Total, doc.Meta.Revoked
		if next, err := url.Parse(doc.Links.Next); err == nil {
			list.Next = next.Query().Get("page[after]")
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(doc.Data, out); err != nil {
		return fmt.Errorf("tokend: the answer to %s %s holds no %T: %w", method, path, out, err)
	}
	return nil
}

// errorOf returns the *Error an answer of 400 or more carries, or nil.
func errorOf(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if json.Unmarshal(b, &doc) == nil {
		e.Errors = doc.Errors
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// pageQuery writes a page into query parameters.
func pageQuery(p Page) url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("page[limit]", strconv.Itoa(p.Limit))
	}
	if p.Offset > 0 {
		q.Set("page[offset]", strconv.Itoa(p.Offset))
	}
	if p.After != "" {
		q.Set("page[after]", p.After)
	}
	return q
}

// pathID escapes an id for a path segment.
func pathID(id string) string { return url.PathEscape(id) }
