package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// user reads a user resource: its attributes carry the names of User's
// JSON fields.
func (r *resource) user() (User, error) {
	var u User
	if err := json.Unmarshal(r.Attributes, &u); err != nil {
		return User{}, err
	}
	u.ID = r.ID
	return u, nil
}

// oneUser sends a request whose answer is one user.
func (c *Client) oneUser(ctx context.Context, method, path string, body any) (User, error) {
	var r resource
	if err := c.do(ctx, method, path, nil, body, &r, nil); err != nil {
		return User{}, err
	}
	return r.user()
}

// CreateUser creates a user (admins, with users-write).
func (c *Client) CreateUser(ctx context.Context, req UserRequest) (User, error) {
	attrs := map[string]any{"email": req.Email, "role": req.Role, "service": req.Service}
	if req.Scopes != nil {
		attrs["scopes"] = *req.Scopes
	}
	return c.oneUser(ctx, http.MethodPost, "/users", map[string]any{"type": "user", "attributes": attrs})
}

// GetUser returns a user: the caller itself with any token, others for
// admins with users.
func (c *Client) GetUser(ctx context.Context, userID string) (User, error) {
	return c.oneUser(ctx, http.MethodGet, "/users/"+pathID(userID), nil)
}

// ListUsers lists a page of users (admins, with users), and how many
// there are.
func (c *Client) ListUsers(ctx context.Context, p Page) ([]User, int, error) {
	var rs []resource
	var list listMeta
	if err := c.do(ctx, http.MethodGet, "/users", pageQuery(p), nil, &rs, &list); err != nil {
		return nil, 0, err
	}
	out := make([]User, len(rs))
	for i := range rs {
		var err error
		if out[i], err = rs[i].user(); err != nil {
			return nil, 0, err
		}
	}
	return out, list.Total, nil
}

// UpdateUser changes a user (admins, with users-write).
func (c *Client) UpdateUser(ctx context.Context, userID string, u UserUpdate) (User, error) {
	attrs := map[string]any{}
	if u.Role != nil {
		attrs["role"] = *u.Role
	}
	if u.Scopes != nil {
		attrs["scopes"] = *u.Scopes
	}
	if u.Service != nil {
		attrs["service"] = *u.Service
	}
	if u.Disabled != nil {
		attrs["disabled"] = *u.Disabled
	}
	return c.oneUser(ctx, http.MethodPatch, "/users/"+pathID(userID), map[string]any{"type": "user", "id": userID, "attributes": attrs})
}
