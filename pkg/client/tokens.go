package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// token reads a token resource: its attributes carry the names of
// Token's JSON fields.
func (r *resource) token() (Token, error) {
	var t Token
	if err := json.Unmarshal(r.Attributes, &t); err != nil {
		return Token{}, err
	}
	t.ID = r.ID
	if r.Relationships != nil {
		t.UserID = r.Relationships.User.Data.ID
	}
	return t, nil
}

func tokensPath(userID string) string { return "/users/" + pathID(userID) + "/api-tokens" }

// oneToken sends a request whose answer is one token.
func (c *Client) oneToken(ctx context.Context, method, path string, body any) (Token, error) {
	var r resource
	if err := c.do(ctx, method, path, nil, body, &r, nil); err != nil {
		return Token{}, err
	}
	return r.token()
}

// tokens sends a request whose answer is a list of tokens, and returns
// them with what the answer says of the list.
func (c *Client) tokens(ctx context.Context, path string, q url.Values) ([]Token, listMeta, error) {
	var rs []resource
	var list listMeta
	if err := c.do(ctx, http.MethodGet, path, q, nil, &rs, &list); err != nil {
		return nil, list, err
	}
	out := make([]Token, len(rs))
	for i := range rs {
		var err error
		if out[i], err = rs[i].token(); err != nil {
			return nil, list, err
		}
	}
	return out, list, nil
}

func tokenQuery(f TokenFilter) url.Values {
	q := pageQuery(f.Page)
	if len(f.Statuses) > 0 {
		q.Set("filter[status]", strings.Join(f.Statuses, ","))
	}
	if f.Newest {
		q.Set("sort", "-createdAt")
	}
	if !f.ExpiresBefore.IsZero() {
		q.Set("filter[expiresBefore]", f.ExpiresBefore.UTC().Format(time.RFC3339Nano))
	}
	if !f.LastUsedBefore.IsZero() {
		q.Set("filter[lastUsedBefore]", f.LastUsedBefore.UTC().Format(time.RFC3339Nano))
	}
	if f.Leaked != nil {
		q.Set("filter[leaked]", strconv.FormatBool(*f.Leaked))
	}
	if f.Scope != "" {
		q.Set("filter[scope]", f.Scope)
	}
	return q
}

// CreateToken creates a token for the user. The answer's Token field holds
// the token string, which tokend never shows again.
func (c *Client) CreateToken(ctx context.Context, userID string, req TokenRequest) (Token, error) {
	attrs := map[string]any{
		"description": req.Description,
		"scope":       req.Scope,
		"expiration":  req.Expiration.UTC().Format(time.RFC3339),
	}
	if req.SourceIP != "" {
		attrs["sourceIp"] = req.SourceIP
	}
	if req.Resources != nil {
		attrs["resources"] = req.Resources
	}
	return c.oneToken(ctx, http.MethodPost, tokensPath(userID), map[string]any{"type": "apiToken", "attributes": attrs})
}

// ListTokens lists a page of the user's tokens, and how many the list
// holds in all.
func (c *Client) ListTokens(ctx context.Context, userID string, f TokenFilter) ([]Token, int, error) {
	toks, list, err := c.tokens(ctx, tokensPath(userID), tokenQuery(f))
	return toks, list.Total, err
}

// EachToken yields every token of the user the filter selects, one page
// after another by cursor (f.Limit tokens a page; f.Offset and f.After
// are where it starts), until the list ends or the loop stops. A failure
// is yielded once, last. Tokens created or revoked meanwhile may or may
// not be met; none is met twice.
func (c *Client) EachToken(ctx context.Context, userID string, f TokenFilter) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		for {
			toks, list, err := c.tokens(ctx, tokensPath(userID), tokenQuery(f))
			if err != nil {
				yield(Token{}, err)
				return
			}
			for _, t := range toks {
				if !yield(t, nil) {
					return
				}
			}
			if list.Next == "" {
				return
			}
			f.Offset, f.After = 0, list.Next
		}
	}
}

// ListAllTokens lists a page of every user's tokens (admins), or of one
// user's when userID is not "".
func (c *Client) ListAllTokens(ctx context.Context, userID string, f TokenFilter) ([]Token, int, error) {
	q := tokenQuery(f)
	if userID != "" {
		q.Set("filter[userId]", userID)
	}
	toks, list, err := c.tokens(ctx, "/api-tokens", q)
	return toks, list.Total, err
}

// GetToken returns one of the user's tokens.
func (c *Client) GetToken(ctx context.Context, userID, tokenID string) (Token, error) {
	return c.oneToken(ctx, http.MethodGet, tokensPath(userID)+"/"+pathID(tokenID), nil)
}

// UpdateToken changes one of the user's tokens.
func (c *Client) UpdateToken(ctx context.Context, userID, tokenID string, u TokenUpdate) (Token, error) {
	attrs := map[string]any{}
	if u.Description != nil {
		attrs["description"] = *u.Description
	}
	if u.Enabled != nil {
		attrs["enabled"] = *u.Enabled
	}
	if u.Expiration != nil {
		attrs["expiration"] = u.Expiration.UTC().Format(time.RFC3339)
	}
	return c.oneToken(ctx, http.MethodPatch, tokensPath(userID)+"/"+pathID(tokenID),
		map[string]any{"type": "apiToken", "id": tokenID, "attributes": attrs})
}

// RevokeToken revokes one of the user's tokens for good; revoking a
// revoked token changes nothing.
func (c *Client) RevokeToken(ctx context.Context, userID, tokenID string) (Token, error) {
	return c.oneToken(ctx, http.MethodDelete, tokensPath(userID)+"/"+pathID(tokenID), nil)
}

// RotateToken replaces one of the user's tokens with a new one, which it
// returns with its token string, shown this once: the same description,
// scope and restrictions, and the rotation's expiration. The old token
// stops working at the rotation's PreviousExpiration (by default at once),
// or at the new one's first successful use with RetirePreviousOnFirstUse.
// A token may rotate itself, to renew its own credential.
func (c *Client) RotateToken(ctx context.Context, userID, tokenID string, r TokenRotation) (Token, error) {
	attrs := map[string]any{}
	if !r.Expiration.IsZero() {
		attrs["expiration"] = r.Expiration.UTC().Format(time.RFC3339)
	}
	if !r.PreviousExpiration.IsZero() {
		attrs["previousExpiration"] = r.PreviousExpiration.UTC().Format(time.RFC3339)
	}
	if r.RetirePreviousOnFirstUse {
		attrs["retirePreviousOnFirstUse"] = true
	}
	return c.oneToken(ctx, http.MethodPost, tokensPath(userID)+"/"+pathID(tokenID)+"/rotate",
		map[string]any{"type": "apiTokenRotation", "attributes": attrs})
}

// RevokeAllTokens revokes every token of the user that works or could work
// again, and returns how many; again, it revokes none.
func (c *Client) RevokeAllTokens(ctx context.Context, userID string) (int, error) {
	var list listMeta
	err := c.do(ctx, http.MethodDelete, tokensPath(userID), nil, nil, nil, &list)
	return list.Revoked, err
}

// RevokeByValue revokes the token whose string is token, on the authority
// of holding it (POST /revoke, RFC 7009): for a leaked token whose id is
// not at hand. The client's own token is not needed; tokend answers the
// same whatever the token was.
func (c *Client) RevokeByValue(ctx context.Context, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/revoke",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return errorOf(resp)
}
