package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// TestNoEscalation checks SPEC's "No escalation" rules on POST
// /users/:userId/api-tokens. A new token's scopes must be ones the target
// user may hold. A token minting for its own user can grant no scope, no
// lifetime and no reach (sourceIp, resources) beyond its own. An admin
// minting for a member is bounded by that member's scopes, not by its own
// token's; minting for another admin, it is bounded by its token's scopes
// and lifetime too.
// Every refusal is 403 pointing at the attribute at fault, and creates
// nothing.
func TestNoEscalation(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		now := time.Now()
		// restricted may hold only four scopes; plain holds the default.
		restricted := h.user(apitoken.RoleMember, "customers", "accounts", "api-tokens", "api-tokens-write")
		plain := h.user(apitoken.RoleMember)
		otherAdmin := h.user(apitoken.RoleAdmin)

		callerExp := now.Add(48 * time.Hour).Truncate(time.Second)
		member, _ := h.mint(restricted, tokenSpec{scope: "customers api-tokens-write", expiration: callerExp})
		bound, _ := h.mint(restricted, tokenSpec{scope: "customers api-tokens-write", sourceIP: "127.0.0.0/8,192.0.2.0/24"})
		scoped, _ := h.mint(restricted, tokenSpec{scope: "customers api-tokens-write", resources: []apitoken.Resource{
			{Type: "account", IDs: []string{"1", "2"}}, {Type: "customer", IDs: []string{"7"}},
		}})
		adminExp := now.Add(2 * time.Hour).Truncate(time.Second)
		narrowAdmin, _ := h.mint(h.AdminID, tokenSpec{scope: "api-tokens-write", expiration: adminExp})
		usersAdmin, _ := h.mint(h.AdminID, tokenSpec{scope: "api-tokens-write users"})

		inAnHour := now.Add(time.Hour)
		resources := func(rs ...apitoken.Resource) []apitoken.Resource { return rs }
		res := func(typ string, ids ...string) apitoken.Resource { return apitoken.Resource{Type: typ, IDs: ids} }

		const (
			scopePtr      = "/data/attributes/scope"
			expirationPtr = "/data/attributes/expiration"
			sourceIPPtr   = "/data/attributes/sourceIp"
			resourcesPtr  = "/data/attributes/resources"
		)
		for _, tc := range []struct {
			name       string
			caller     string
			userID     string
			scope      string
			expiration time.Time // zero: in an hour
			sourceIP   string
			resources  []apitoken.Resource
			// refused lists the pointers of the expected 403's errors;
			// none means the token is created.
			refused []string
		}{
			// The target user's scopes bound every new token.
			{name: "an admin cannot give a member a scope outside the member's list",
				caller: h.AdminToken, userID: restricted, scope: "customers payments", refused: []string{scopePtr}},
			{name: "an admin can give a member scopes from the member's list",
				caller: h.AdminToken, userID: restricted, scope: "customers accounts"},
			{name: "an admin cannot give a member the users scope",
				caller: h.AdminToken, userID: plain, scope: "customers users", refused: []string{scopePtr}},
			{name: "an admin cannot give a member the users-write scope",
				caller: h.AdminToken, userID: plain, scope: "users-write", refused: []string{scopePtr}},
			{name: "an admin can give a member with default scopes any scope but the admin-only and opt-in ones",
				caller: h.AdminToken, userID: plain, scope: "payments-write cards-sensitive api-tokens-write"},
			{name: "introspect is opt-in: a member with default scopes is not given it",
				caller: h.AdminToken, userID: plain, scope: "customers introspect", refused: []string{scopePtr}},

			// A token minting for its own user grants only what it holds.
			{name: "a member's token cannot grant a scope it lacks, even one its user may hold",
				caller: member, userID: restricted, scope: "customers accounts", refused: []string{scopePtr}},
			{name: "a member's token can grant a subset of its scopes",
				caller: member, userID: restricted, scope: "customers"},
			{name: "a member's token can grant all of its scopes",
				caller: member, userID: restricted, scope: "api-tokens-write customers"},
			{name: "a member's token cannot create one that outlives it",
				caller: member, userID: restricted, scope: "customers", expiration: callerExp.Add(time.Second), refused: []string{expirationPtr}},
			{name: "a member's token can create one expiring with it",
				caller: member, userID: restricted, scope: "customers", expiration: callerExp},
			{name: "a member's token can create a shorter-lived one",
				caller: member, userID: restricted, scope: "customers", expiration: now.Add(time.Minute)},
			{name: "every escalation of one request is reported at once",
				caller: member, userID: restricted, scope: "customers accounts", expiration: callerExp.Add(time.Hour), refused: []string{expirationPtr, scopePtr}},

			// A source-bound token creates only tokens bound within it.
			{name: "a source-bound token cannot create an unbound token",
				caller: bound, userID: restricted, scope: "customers", refused: []string{sourceIPPtr}},
			{name: "a source-bound token cannot create one bound to a wider range",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "126.0.0.0/7", refused: []string{sourceIPPtr}},
			{name: "a source-bound token cannot create one bound to a wider range starting inside its own",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "192.0.2.0/23", refused: []string{sourceIPPtr}},
			{name: "a source-bound token cannot create one bound to a range outside its own",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "10.0.0.0/8", refused: []string{sourceIPPtr}},
			{name: "a source-bound token cannot create one that adds an address to its ranges",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "127.0.0.1,10.0.0.1", refused: []string{sourceIPPtr}},
			{name: "a source-bound token can create one bound to an address within its ranges",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "127.0.0.1"},
			{name: "a source-bound token can create one bound to narrower ranges",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "192.0.2.128/25,127.0.0.0/16"},
			{name: "a source-bound token can create one bound exactly as it is",
				caller: bound, userID: restricted, scope: "customers", sourceIP: "127.0.0.0/8,192.0.2.0/24"},

			// A resource-bound token creates only tokens bound within it.
			{name: "a resource-bound token cannot create an unbound token",
				caller: scoped, userID: restricted, scope: "customers", refused: []string{resourcesPtr}},
			{name: "a resource-bound token cannot create one for another id",
				caller: scoped, userID: restricted, scope: "customers", resources: resources(res("account", "1", "3")), refused: []string{resourcesPtr}},
			{name: "a resource-bound token cannot create one for the same id of another type",
				caller: scoped, userID: restricted, scope: "customers", resources: resources(res("card", "1")), refused: []string{resourcesPtr}},
			{name: "a resource-bound token can create one for some of its resources",
				caller: scoped, userID: restricted, scope: "customers", resources: resources(res("account", "2"))},
			{name: "a resource-bound token can create one for resources of several of its types",
				caller: scoped, userID: restricted, scope: "customers", resources: resources(res("account", "1"), res("customer", "7"))},

			// An admin minting for another user.
			{name: "an admin's narrow token can grant another user scopes it lacks",
				caller: narrowAdmin, userID: restricted, scope: "customers accounts"},
			{name: "an admin's token can grant another user a lifetime beyond its own",
				caller: narrowAdmin, userID: plain, scope: "customers", expiration: now.Add(30 * 24 * time.Hour)},
			{name: "an admin's token is still bounded by the other user's scopes",
				caller: narrowAdmin, userID: restricted, scope: "payments", refused: []string{scopePtr}},
			{name: "an admin's token cannot grant another admin the users scope it lacks",
				caller: narrowAdmin, userID: otherAdmin, scope: "users", refused: []string{scopePtr}},
			{name: "an admin's token cannot grant another admin the users-write scope it lacks",
				caller: usersAdmin, userID: otherAdmin, scope: "users users-write", refused: []string{scopePtr}},
			{name: "an admin's token holding users can grant it to another admin",
				caller: usersAdmin, userID: otherAdmin, scope: "users"},
			{name: "an admin's narrow token cannot grant another admin scopes it lacks",
				caller: narrowAdmin, userID: otherAdmin, scope: "customers", refused: []string{scopePtr}},
			{name: "an admin's token cannot grant another admin a lifetime beyond its own",
				caller: narrowAdmin, userID: otherAdmin, scope: "api-tokens-write", expiration: adminExp.Add(time.Hour), refused: []string{expirationPtr}},
			{name: "an admin's token can grant another admin what it holds, for as long as it lives",
				caller: narrowAdmin, userID: otherAdmin, scope: "api-tokens-write", expiration: adminExp},

			// An admin minting for itself is a token minting for its own user.
			{name: "an admin's token minting for its own user cannot grant a scope it lacks",
				caller: narrowAdmin, userID: h.AdminID, scope: "customers", refused: []string{scopePtr}},
			{name: "an admin's token minting for its own user cannot outlive it",
				caller: narrowAdmin, userID: h.AdminID, scope: "api-tokens-write", expiration: adminExp.Add(time.Hour), refused: []string{expirationPtr}},
			{name: "an admin's token minting for its own user can grant what it holds",
				caller: narrowAdmin, userID: h.AdminID, scope: "api-tokens-write", expiration: adminExp},
		} {
			t.Run(tc.name, func(t *testing.T) {
				exp := tc.expiration
				if exp.IsZero() {
					exp = inAnHour
				}
				attrs := map[string]any{"description": "escalation", "scope": tc.scope, "expiration": apitoken.FormatTime(exp)}
				if tc.sourceIP != "" {
					attrs["sourceIp"] = tc.sourceIP
				}
				if tc.resources != nil {
					attrs["resources"] = tc.resources
				}
				before := countTokens(t, h, tc.userID)
				r := h.do(req{method: "POST", path: tokensPath(tc.userID), token: tc.caller, body: createBody(attrs)})
				after := countTokens(t, h, tc.userID)

				if len(tc.refused) > 0 {
					r.expectStatus(t, http.StatusForbidden, "forbidden")
					var pointers []string
					for _, e := range r.errors() {
						if e["code"] != "forbidden" {
							t.Errorf("error code = %v, want forbidden", e["code"])
						}
						src, _ := e["source"].(map[string]any)
						ptr, _ := src["pointer"].(string)
						pointers = append(pointers, ptr)
					}
					slices.Sort(pointers)
					if !slices.Equal(pointers, tc.refused) {
						t.Errorf("error pointers = %v, want %v\n%s", pointers, tc.refused, r.Body)
					}
					if after != before {
						t.Errorf("a refused request created %d tokens", after-before)
					}
					return
				}

				r.expectStatus(t, http.StatusCreated, "")
				if after != before+1 {
					t.Errorf("tokens went from %d to %d, want one more", before, after)
				}
				a := r.attrs()
				if a["scope"] != tc.scope || a["expiration"] != apitoken.FormatTime(exp.Truncate(time.Second)) || a["status"] != "active" {
					t.Errorf("created %v", a)
				}
				if got, _ := a["sourceIp"].(string); got != tc.sourceIP {
					t.Errorf("sourceIp = %q, want %q", got, tc.sourceIP)
				}
				if got, _ := a["resources"].([]any); len(got) != len(tc.resources) {
					t.Errorf("resources = %v, want %v", a["resources"], tc.resources)
				}
			})
		}
	})
}

// TestNoEscalationFollowsTheUser checks that a token's power follows its
// user: scopes the user may no longer hold are neither usable nor grantable
// by the tokens it already has.
func TestNoEscalationFollowsTheUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	u := h.user(apitoken.RoleMember, "customers", "accounts", "api-tokens-write")
	token, _ := h.mint(u, tokenSpec{scope: "customers accounts api-tokens-write"})
	attrs := func(scope string) map[string]any {
		return createBody(map[string]any{"description": "d", "scope": scope,
			"expiration": apitoken.FormatTime(time.Now().Add(time.Hour))})
	}

	h.do(req{method: "POST", path: tokensPath(u), token: token, body: attrs("accounts")}).expectStatus(t, http.StatusCreated, "")
	h.do(req{method: "PATCH", path: "/users/" + u, token: h.AdminToken, body: map[string]any{"data": map[string]any{
		"type": "user", "id": u, "attributes": map[string]any{"scopes": "customers api-tokens-write"},
	}}}).expectStatus(t, http.StatusOK, "")

	t.Run("a scope taken from the user cannot be granted by its existing token", func(t *testing.T) {
		before := countTokens(t, h, u)
		r := h.do(req{method: "POST", path: tokensPath(u), token: token, body: attrs("accounts")})
		r.expectStatus(t, http.StatusForbidden, "forbidden")
		if n := countTokens(t, h, u); n != before {
			t.Fatalf("tokens went from %d to %d", before, n)
		}
	})
	t.Run("the scopes the user keeps can still be granted", func(t *testing.T) {
		h.do(req{method: "POST", path: tokensPath(u), token: token, body: attrs("customers")}).expectStatus(t, http.StatusCreated, "")
	})
}
