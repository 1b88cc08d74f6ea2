package httpapi

import (
	"net/http"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/ratelimit"
)

// apiToken is the JSON:API representation of a token. The token string
// appears only in the create response.
type apiToken struct {
	ID          string        `jsonapi:"primary,apiToken"`
	CreatedAt   string        `jsonapi:"attr,createdAt"`
	Description string        `jsonapi:"attr,description"`
	Scope       string        `jsonapi:"attr,scope"`
	Expiration  string        `jsonapi:"attr,expiration"`
	SourceIP    string        `jsonapi:"attr,sourceIp,omitempty"`
	Resources   []restriction `jsonapi:"attr,resources,omitempty"`
	Status      string        `jsonapi:"attr,status"`
	Enabled     bool          `jsonapi:"attr,enabled"`
	LastUsedAt  string        `jsonapi:"attr,lastUsedAt,omitempty"`
	LastUsedIP  string        `jsonapi:"attr,lastUsedIp,omitempty"`
	RevokedAt   string        `jsonapi:"attr,revokedAt,omitempty"`
	Token       string        `jsonapi:"attr,token,omitempty"`
	// The lifecycle's attributes: rotation links, leak report, recent
	// clients.
	RotatedFrom   string         `jsonapi:"attr,rotatedFrom,omitempty"`
	RotatedTo     string         `jsonapi:"attr,rotatedTo,omitempty"`
	LeakedAt      string         `jsonapi:"attr,leakedAt,omitempty"`
	LeakURL       string         `jsonapi:"attr,leakUrl,omitempty"`
	LeakSource    string         `jsonapi:"attr,leakSource,omitempty"`
	RecentClients []recentClient `jsonapi:"attr,recentClients,omitempty"`
	User          *userRef       `jsonapi:"relation,user"`

	self, userURL string
}

// restriction is one entry of a token's resources attribute.
type restriction struct {
	Type string   `json:"type" jsonapi:"attr,type"`
	IDs  []string `json:"ids" jsonapi:"attr,ids"`
}

func restrictions(rs []apitoken.Resource) []restriction {
	var out []restriction
	for _, r := range rs {
		out = append(out, restriction(r))
	}
	return out
}

func resources(rs []restriction) []apitoken.Resource {
	var out []apitoken.Resource
	for _, r := range rs {
		out = append(out, apitoken.Resource(r))
	}
	return out
}

// recentClient is one entry of a token's recentClients attribute: the
// latest use from one address.
type recentClient struct {
	IP        string `json:"ip" jsonapi:"attr,ip"`
	UserAgent string `json:"userAgent,omitempty" jsonapi:"attr,userAgent,omitempty"`
	UsedAt    string `json:"usedAt" jsonapi:"attr,usedAt"`
}

// userRef is the user a token belongs to, as a relationship.
type userRef struct {
	ID string `jsonapi:"primary,user"`
}

// JSONAPILinks implements jsonapi.Linkable.
func (t *apiToken) JSONAPILinks() *jsonapi.Links {
	return &jsonapi.Links{"self": t.self}
}

// JSONAPIRelationshipLinks implements jsonapi.RelationshipLinkable.
func (t *apiToken) JSONAPIRelationshipLinks(relation string) *jsonapi.Links {
	if relation == "user" {
		return &jsonapi.Links{"related": t.userURL}
	}
	return nil
}

// apiTokenInput is an apiToken request document's resource object.
type apiTokenInput struct {
	ID          string        `jsonapi:"primary,apiToken"`
	Description *string       `jsonapi:"attr,description"`
	Scope       *string       `jsonapi:"attr,scope"`
	Expiration  *string       `jsonapi:"attr,expiration"`
	SourceIP    *string       `jsonapi:"attr,sourceIp"`
	Resources   []restriction `jsonapi:"attr,resources"`
	Enabled     *bool         `jsonapi:"attr,enabled"`
}

var (
	createTokenShape = shape{
		typ: "apiToken",
		attrs: map[string]attrKind{
			"description": kindString,
			"scope":       kindString,
			"expiration":  kindString,
			"sourceIp":    kindString,
			"resources":   kindResources,
		},
		readOnly: append([]string{"token", "status", "enabled", "createdAt"}, lifecycleAttributes...),
	}
	updateTokenShape = shape{
		typ: "apiToken",
		attrs: map[string]attrKind{
			"description": kindString,
			"enabled":     kindBool,
			"expiration":  kindString,
		},
		readOnly: append([]string{"token", "status", "scope", "sourceIp", "resources", "createdAt"}, lifecycleAttributes...),
	}
	// lifecycleAttributes are the attributes a token's use and lifecycle
	// set, which no request does.
	lifecycleAttributes = []string{"lastUsedAt", "lastUsedIp", "revokedAt", "rotatedFrom", "rotatedTo",
		"leakedAt", "leakUrl", "leakSource", "recentClients"}
)

func (s *Server) tokenResource(c echo.Context, t *apitoken.Token) *apiToken {
	base := s.baseURL(c) + "/users/" + t.UserID
	r := &apiToken{
		ID:          t.ID,
		CreatedAt:   apitoken.FormatTime(t.CreatedAt),
		Description: t.Description,
		Scope:       t.Scope,
		Expiration:  apitoken.FormatTime(t.Expiration),
		SourceIP:    t.SourceIP,
		Resources:   restrictions(t.Resources),
		Status:      string(t.Status(s.now())),
		Enabled:     t.Enabled,
		User:        &userRef{ID: t.UserID},
		self:        base + "/api-tokens/" + t.ID,
		userURL:     base,
	}
	if t.LastUsedAt != nil {
		r.LastUsedAt = apitoken.FormatTime(*t.LastUsedAt)
		r.LastUsedIP = t.LastUsedIP
	}
	if t.RevokedAt != nil {
		r.RevokedAt = apitoken.FormatTime(*t.RevokedAt)
	}
	r.RotatedFrom, r.RotatedTo = t.RotatedFrom, t.RotatedTo
	if t.LeakedAt != nil {
		r.LeakedAt, r.LeakURL, r.LeakSource = apitoken.FormatTime(*t.LeakedAt), t.LeakURL, t.LeakSource
	}
	for _, cl := range t.RecentClients {
		r.RecentClients = append(r.RecentClients, recentClient{IP: cl.IP, UserAgent: cl.UserAgent, UsedAt: apitoken.FormatTime(cl.At)})
	}
	return r
}

// createToken handles POST /users/:userId/api-tokens. A POST with neither
// a body nor a Content-Type lists the tokens instead, so that Unit's List
// example, which reads "curl -X POST" in the document tokend follows, works
// as written; any POST that declares a body is a create.
func (s *Server) createToken(c echo.Context) error {
	if r := c.Request(); r.ContentLength == 0 && len(r.TransferEncoding) == 0 && r.Header.Get("Content-Type") == "" {
		return s.listTokens(c)
	}
	if err := noQuery(c); err != nil {
		return err
	}
	if err := s.svc.MayWriteTokens(ctx(c), principalOf(c), c.Param("userId"), ""); err != nil {
		return err
	}
	if ok, retry := s.tokenCreates.Take(principalOf(c).User.ID, s.now()); !ok {
		return rateLimitedf(retry, "Too many tokens created by this user lately; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	var in apiTokenInput
	attrErrs, err := decodeDocument(c, createTokenShape, "", &in)
	if err != nil {
		return err
	}
	req := apitoken.TokenRequest{
		Description: in.Description,
		Scope:       in.Scope,
		Expiration:  in.Expiration,
		SourceIP:    in.SourceIP,
		Resources:   resources(in.Resources),
	}
	if len(attrErrs) > 0 {
		_, verr := req.Validate(s.svc.TokenPolicy())
		return withAttributeErrors(attrErrs, verr)
	}
	t, raw, err := s.svc.CreateToken(ctx(c), principalOf(c), c.Param("userId"), req)
	if err != nil {
		return err
	}
	return s.writeCreatedToken(c, &t, raw)
}

// writeCreatedToken answers a request that made a token: 201, its
// Location, and the token with its token string, which no cache may keep.
func (s *Server) writeCreatedToken(c echo.Context, t *apitoken.Token, raw string) error {
	res := s.tokenResource(c, t)
	res.Token = raw
	c.Response().Header().Set("Location", res.self)
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeResource(c, http.StatusCreated, res, res.self)
}

// listTokens handles GET /users/:userId/api-tokens.
func (s *Server) listTokens(c echo.Context) error {
	p, err := parseList(c, listOptions{cursor: true, sort: true, statusFilter: true, inventory: true})
	if err != nil {
		return err
	}
	page, err := s.svc.ListTokens(ctx(c), principalOf(c), c.Param("userId"), p.tokenFilter())
	if err != nil {
		return err
	}
	return s.writeTokens(c, p, &page)
}

// listAllTokens handles GET /api-tokens, for admins.
func (s *Server) listAllTokens(c echo.Context) error {
	p, err := parseList(c, listOptions{cursor: true, sort: true, statusFilter: true, userFilter: true, inventory: true})
	if err != nil {
		return err
	}
	page, err := s.svc.ListAllTokens(ctx(c), principalOf(c), p.tokenFilter())
	if err != nil {
		return err
	}
	return s.writeTokens(c, p, &page)
}

func (p listParams) tokenFilter() apitoken.TokenFilter {
	return apitoken.TokenFilter{UserID: p.userID, Statuses: p.statuses, Newest: p.newest,
		Limit: p.limit, Offset: p.offset, After: p.after, Before: p.before, Inventory: p.inventory}
}

func (s *Server) writeTokens(c echo.Context, p listParams, page *apitoken.TokenPage) error {
	res := make([]*apiToken, len(page.Tokens))
	for i := range page.Tokens {
		res[i] = s.tokenResource(c, &page.Tokens[i])
	}
	links, meta := s.pageLinks(c, p, tokenPageInfo(page))
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeCollection(c, res, links, meta)
}

// getToken handles GET /users/:userId/api-tokens/:tokenId.
func (s *Server) getToken(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	t, err := s.svc.GetToken(ctx(c), principalOf(c), c.Param("userId"), c.Param("tokenId"))
	if err != nil {
		return err
	}
	return s.writeToken(c, &t)
}

// updateToken handles PATCH /users/:userId/api-tokens/:tokenId.
func (s *Server) updateToken(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	if err := s.svc.MayWriteTokens(ctx(c), principalOf(c), c.Param("userId"), c.Param("tokenId")); err != nil {
		return err
	}
	var in apiTokenInput
	attrErrs, err := decodeDocument(c, updateTokenShape, c.Param("tokenId"), &in)
	if err != nil {
		return err
	}
	upd := apitoken.TokenUpdate{
		Description: in.Description,
		Enabled:     in.Enabled,
		Expiration:  in.Expiration,
	}
	if len(attrErrs) > 0 {
		// Report the other attributes' problems too; the checks against
		// the token's current state wait for a well-formed document.
		_, verr := upd.Validate(nil, s.now())
		return withAttributeErrors(attrErrs, verr)
	}
	t, err := s.svc.UpdateToken(ctx(c), principalOf(c), c.Param("userId"), c.Param("tokenId"), upd)
	if err != nil {
		return err
	}
	return s.writeToken(c, &t)
}

// revokeToken handles DELETE /users/:userId/api-tokens/:tokenId: it
// revokes the token and answers with it, as Unit does.
func (s *Server) revokeToken(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	t, err := s.svc.RevokeToken(ctx(c), principalOf(c), c.Param("userId"), c.Param("tokenId"))
	if err != nil {
		return err
	}
	return s.writeToken(c, &t)
}

func (s *Server) writeToken(c echo.Context, t *apitoken.Token) error {
	res := s.tokenResource(c, t)
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeResource(c, http.StatusOK, res, res.self)
}
