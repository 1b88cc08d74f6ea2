package apitoken

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Scopes tokend itself checks.
const (
	ScopeAPITokens      = "api-tokens"
	ScopeAPITokensWrite = "api-tokens-write"
	ScopeUsers          = "users"
	ScopeUsersWrite     = "users-write"
	ScopeIntrospect     = "introspect"
	ScopeAudit          = "audit"
	ScopeWebhooks       = "webhooks"
	ScopeWebhooksWrite  = "webhooks-write"
)

// ServiceScopes are tokend's own scopes. Every catalog holds them, whatever
// the catalog file lists.
var ServiceScopes = []ScopeInfo{
	{ScopeAPITokens, "Read API tokens"},
	{ScopeAPITokensWrite, "Create, update and revoke API tokens"},
	{ScopeUsers, "Read users (admins only)"},
	{ScopeUsersWrite, "Create and update users (admins only)"},
	{ScopeIntrospect, "Verify tokens: introspection, forward-auth, revocation feed"},
	{ScopeAudit, "Read every user's audit log (admins only)"},
	{ScopeWebhooks, "Read webhooks and their deliveries (tokend's: admins only)"},
	{ScopeWebhooksWrite, "Create, update and delete webhooks (tokend's: admins only)"},
}

// AdminOnlyScopes may only ever be held by admins.
//
// webhooks and webhooks-write are not among them, though only admins may
// manage tokend's webhooks: Unit's catalog has scopes of the same names,
// for its own webhooks, which members may need to hold.
var AdminOnlyScopes = []string{ScopeUsers, ScopeUsersWrite, ScopeAudit}

// OptInScopes are held by a member only when given explicitly: introspect
// reads the state of every user's tokens (the revocation feed) and other
// users' emails (introspection), which a downstream service needs and a
// person does not.
var OptInScopes = []string{ScopeIntrospect}

// ScopeInfo is one entry of the catalog.
type ScopeInfo struct {
	Name        string
	Description string
}

// Catalog is the set of scopes tokens may carry.
type Catalog struct {
	scopes []ScopeInfo
	// names and defaults are derived from scopes when the catalog is
	// read, for the checks that run at every request.
	names    map[string]bool
	defaults map[Role][]string
}

var scopeName = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/-]*$`)

// ParseCatalog reads a catalog file: one scope per line, its name first and
// an optional description after white space; blank lines and lines starting
// with # are ignored. tokend's ServiceScopes are added when missing.
func ParseCatalog(data []byte) (*Catalog, error) {
	c := &Catalog{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.Fields(line)[0]
		desc := strings.TrimSpace(line[len(name):])
		if !scopeName.MatchString(name) {
			return nil, fmt.Errorf("scope catalog line %d: %q is not a valid scope name", n, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("scope catalog line %d: %q is listed twice", n, name)
		}
		seen[name] = true
		c.scopes = append(c.scopes, ScopeInfo{name, desc})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scope catalog: %w", err)
	}
	for _, s := range ServiceScopes {
		if !seen[s.Name] {
			c.scopes = append(c.scopes, s)
		}
	}
	c.names = map[string]bool{}
	for _, s := range c.scopes {
		c.names[s.Name] = true
	}
	c.defaults = map[Role][]string{}
	for _, role := range []Role{RoleAdmin, RoleMember} {
		for _, s := range c.scopes {
			if role == RoleAdmin || !slices.Contains(AdminOnlyScopes, s.Name) && !slices.Contains(OptInScopes, s.Name) {
				c.defaults[role] = append(c.defaults[role], s.Name)
			}
		}
	}
	return c, nil
}

// Has reports whether the catalog lists the scope.
func (c *Catalog) Has(name string) bool { return c.names[name] }

// All returns the catalog in file order, tokend's own scopes last.
func (c *Catalog) All() []ScopeInfo {
	return slices.Clone(c.scopes)
}

// Default returns the scopes a user of the role may hold when no explicit
// list was set: the whole catalog, less the admin-only and opt-in scopes
// for members.
// The list is the catalog's own: callers must not change it.
func (c *Catalog) Default(role Role) []string {
	if role != RoleAdmin {
		role = RoleMember
	}
	return c.defaults[role]
}

// ParseScope checks a scope value: one or more scopes from the catalog,
// separated by single spaces, none repeated. It returns the scopes in the
// order given, or a detail message naming every problem.
func (c *Catalog) ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("must list at least one scope")
	}
	if strings.TrimSpace(s) != s || strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\r\n,") {
		return nil, fmt.Errorf("must be scopes separated by single spaces")
	}
	names := strings.Split(s, " ")
	var unknown, repeated []string
	for i, n := range names {
		if !c.Has(n) {
			unknown = append(unknown, n)
		} else if slices.Contains(names[:i], n) && !slices.Contains(repeated, n) {
			repeated = append(repeated, n)
		}
	}
	var problems []string
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("lists unknown %s %s", plural(len(unknown), "scope", "scopes"), QuoteList(unknown)))
	}
	if len(repeated) > 0 {
		problems = append(problems, "repeats "+QuoteList(repeated))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, " and "))
	}
	return names, nil
}

// Subtract returns the scopes of want that have does not contain.
func Subtract(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// Intersect returns the scopes of a that b also contains.
func Intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// QuoteList quotes each item and joins them with commas, for messages that
// name several scopes or values.
func QuoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ValidScopeName reports whether s is shaped like a scope name, whether or
// not the catalog lists it.
func ValidScopeName(s string) bool { return scopeName.MatchString(s) }
