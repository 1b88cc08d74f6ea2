package httpapi

import (
	"net/http"
	"strings"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
)

// user is the JSON:API representation of a user. scopes lists the scopes
// the user's tokens may carry.
type user struct {
	ID        string `jsonapi:"primary,user"`
	Email     string `jsonapi:"attr,email"`
	Role      string `jsonapi:"attr,role"`
	Scopes    string `jsonapi:"attr,scopes"`
	Service   bool   `jsonapi:"attr,service"`
	Disabled  bool   `jsonapi:"attr,disabled"`
	CreatedAt string `jsonapi:"attr,createdAt"`
	UpdatedAt string `jsonapi:"attr,updatedAt"`

	self  string
	grant *tokenGrant
}

// JSONAPILinks implements jsonapi.Linkable. JSON:API 1.0 allows only self
// in a resource's links, so the user's tokens are not linked here.
func (u *user) JSONAPILinks() *jsonapi.Links {
	return &jsonapi.Links{"self": u.self}
}

// tokenGrant is a user's meta.tokenGrant: the most the token that asked
// may put in a token it creates for this user now, so that a client (the
// console) offers only what tokend will accept.
type tokenGrant struct {
	Scope         string        `json:"scope"`
	MaxExpiration string        `json:"maxExpiration"`
	SourceIP      string        `json:"sourceIp,omitempty"`
	Resources     []restriction `json:"resources,omitempty"`
}

// JSONAPIMeta implements jsonapi.Metable.
func (u *user) JSONAPIMeta() *jsonapi.Meta {
	if u.grant == nil {
		return nil
	}
	return &jsonapi.Meta{"tokenGrant": u.grant}
}

type userInput struct {
	ID       string  `jsonapi:"primary,user"`
	Email    *string `jsonapi:"attr,email"`
	Role     *string `jsonapi:"attr,role"`
	Scopes   *string `jsonapi:"attr,scopes"`
	Service  *bool   `jsonapi:"attr,service"`
	Disabled *bool   `jsonapi:"attr,disabled"`
}

var (
	createUserShape = shape{
		typ:      "user",
		attrs:    map[string]attrKind{"email": kindString, "role": kindString, "scopes": kindString, "service": kindBool},
		readOnly: []string{"disabled", "createdAt", "updatedAt"},
	}
	updateUserShape = shape{
		typ:      "user",
		attrs:    map[string]attrKind{"role": kindString, "scopes": kindString, "service": kindBool, "disabled": kindBool},
		readOnly: []string{"email", "createdAt", "updatedAt"},
	}
)

func (s *Server) userResource(c echo.Context, u *apitoken.User) *user {
	res := &user{
		ID:        u.ID,
		Email:     u.Email,
		Role:      string(u.Role),
		Scopes:    strings.Join(u.AllowedScopes(s.svc.Catalog()), " "),
		Service:   u.Service,
		Disabled:  u.Disabled,
		CreatedAt: apitoken.FormatTime(u.CreatedAt),
		UpdatedAt: apitoken.FormatTime(u.UpdatedAt),
		self:      s.baseURL(c) + "/users/" + u.ID,
	}
	if p := principalOf(c); p != nil {
		g := s.svc.TokenGrant(p, u)
		res.grant = &tokenGrant{Scope: strings.Join(g.Scopes, " "), MaxExpiration: apitoken.FormatTime(g.MaxExpiration),
			SourceIP: g.SourceIP, Resources: restrictions(g.Resources)}
	}
	return res
}

// createUser handles POST /users, for admins.
func (s *Server) createUser(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	if err := s.svc.MayManageUsers(ctx(c), principalOf(c), ""); err != nil {
		return err
	}
	var in userInput
	if attrErrs, err := decodeDocument(c, createUserShape, "", &in); err != nil {
		return err
	} else if len(attrErrs) > 0 {
		return attrErrs
	}
	req := apitoken.UserRequest{Scopes: in.Scopes}
	if in.Email != nil {
		req.Email = *in.Email
	}
	if in.Role != nil {
		req.Role = *in.Role
	}
	if in.Service != nil {
		req.Service = *in.Service
	}
	u, err := s.svc.CreateUser(ctx(c), principalOf(c), req)
	if err != nil {
		return err
	}
	res := s.userResource(c, &u)
	c.Response().Header().Set("Location", res.self)
	return writeResource(c, http.StatusCreated, res, res.self)
}

// listUsers handles GET /users, for admins.
func (s *Server) listUsers(c echo.Context) error {
	p, err := parseList(c, listOptions{})
	if err != nil {
		return err
	}
	users, total, err := s.svc.ListUsers(ctx(c), principalOf(c), p.limit, p.offset)
	if err != nil {
		return err
	}
	res := make([]*user, len(users))
	for i := range users {
		res[i] = s.userResource(c, &users[i])
	}
	links, meta := s.pageLinks(c, p, pageInfo{total: total, more: int64(p.offset+len(users)) < total})
	return writeCollection(c, res, links, meta)
}

// getUser handles GET /users/:userId.
func (s *Server) getUser(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	u, err := s.svc.GetUser(ctx(c), principalOf(c), c.Param("userId"))
	if err != nil {
		return err
	}
	res := s.userResource(c, &u)
	return writeResource(c, http.StatusOK, res, res.self)
}

// updateUser handles PATCH /users/:userId, for admins.
func (s *Server) updateUser(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	if err := s.svc.MayManageUsers(ctx(c), principalOf(c), c.Param("userId")); err != nil {
		return err
	}
	var in userInput
	if attrErrs, err := decodeDocument(c, updateUserShape, c.Param("userId"), &in); err != nil {
		return err
	} else if len(attrErrs) > 0 {
		return attrErrs
	}
	u, err := s.svc.UpdateUser(ctx(c), principalOf(c), c.Param("userId"), apitoken.UserUpdate{
		Role: in.Role, Scopes: in.Scopes, Service: in.Service, Disabled: in.Disabled,
	})
	if err != nil {
		return err
	}
	res := s.userResource(c, &u)
	return writeResource(c, http.StatusOK, res, res.self)
}
