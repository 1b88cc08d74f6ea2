package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// TestUserManagement drives the user endpoints as an admin: create, list,
// read and update, with their validation and conflicts.
func TestUserManagement(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		memberDefault := strings.Join(h.Catalog.Default(apitoken.RoleMember), " ")
		adminDefault := strings.Join(h.Catalog.Default(apitoken.RoleAdmin), " ")
		var memberID string

		t.Run("an admin creates a member, which gets the member's default scopes", func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/users", token: h.AdminToken,
				body: userBody(map[string]any{"email": "Ops@Example.com", "role": "member"})})
			r.expectStatus(t, http.StatusCreated, "")
			memberID, _ = r.data()["id"].(string)
			self := h.URL + "/users/" + memberID
			if loc := r.Header.Get("Location"); loc != self {
				t.Errorf("Location = %q, want %q", loc, self)
			}
			if link := r.data()["links"].(map[string]any)["self"]; link != self {
				t.Errorf("self link = %v, want %q", link, self)
			}
			want := map[string]any{"email": "ops@example.com", "role": "member", "scopes": memberDefault, "service": false, "disabled": false}
			for k, v := range want {
				if got := r.attrs()[k]; got != v {
					t.Errorf("%s = %v, want %v", k, got, v)
				}
			}
			if strings.Contains(" "+memberDefault+" ", " users ") || !strings.Contains(memberDefault, "api-tokens-write") {
				t.Errorf("member default scopes = %q", memberDefault)
			}
		})
		t.Run("an admin creates a service user with explicit scopes", func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/users", token: h.AdminToken,
				body: userBody(map[string]any{"email": "robot@example.com", "role": "member", "service": true, "scopes": "customers accounts"})})
			r.expectStatus(t, http.StatusCreated, "")
			if a := r.attrs(); a["scopes"] != "customers accounts" || a["service"] != true {
				t.Fatalf("attributes = %v", a)
			}
		})
		t.Run("an admin creates another admin, which may hold the admin-only scopes", func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/users", token: h.AdminToken,
				body: userBody(map[string]any{"email": "boss@example.com", "role": "admin", "scopes": "users users-write api-tokens"})})
			r.expectStatus(t, http.StatusCreated, "")
			if a := r.attrs(); a["scopes"] != "users users-write api-tokens" || a["role"] != "admin" {
				t.Fatalf("attributes = %v", a)
			}
		})

		t.Run("an email already taken, in any case, is a conflict and creates nothing", func(t *testing.T) {
			before := userTotal(t, h)
			r := h.do(req{method: "POST", path: "/users", token: h.AdminToken,
				body: userBody(map[string]any{"email": "OPS@example.COM", "role": "admin"})})
			r.expectStatus(t, http.StatusConflict, "conflict")
			if after := userTotal(t, h); after != before {
				t.Fatalf("users went from %d to %d", before, after)
			}
		})

		for _, tc := range []struct {
			name     string
			attrs    map[string]any
			pointers []string
		}{
			{"a malformed email", map[string]any{"email": "not an email", "role": "member"}, []string{"email"}},
			{"an email with a display name", map[string]any{"email": "Ops <ops2@example.com>", "role": "member"}, []string{"email"}},
			{"a missing email", map[string]any{"role": "member"}, []string{"email"}},
			{"an unknown role", map[string]any{"email": "a@example.com", "role": "owner"}, []string{"role"}},
			{"a missing role", map[string]any{"email": "a@example.com"}, []string{"role"}},
			{"an unknown scope", map[string]any{"email": "a@example.com", "role": "member", "scopes": "customers nope"}, []string{"scopes"}},
			{"scopes separated by commas", map[string]any{"email": "a@example.com", "role": "member", "scopes": "customers,accounts"}, []string{"scopes"}},
			{"a member given the users scope", map[string]any{"email": "a@example.com", "role": "member", "scopes": "customers users"}, []string{"scopes"}},
			{"a member given the users-write scope", map[string]any{"email": "a@example.com", "role": "member", "scopes": "users-write"}, []string{"scopes"}},
			{"a bad email, role and scope together", map[string]any{"email": "x", "role": "root", "scopes": "nope"}, []string{"email", "role", "scopes"}},
			{"an attribute users do not have", map[string]any{"email": "a@example.com", "role": "member", "nickname": "a"}, []string{"nickname"}},
			{"the read-only disabled attribute", map[string]any{"email": "a@example.com", "role": "member", "disabled": true}, []string{"disabled"}},
			{"service given as a string", map[string]any{"email": "a@example.com", "role": "member", "service": "yes"}, []string{"service"}},
		} {
			t.Run("creating a user with "+tc.name+" is invalid and creates nothing", func(t *testing.T) {
				before := userTotal(t, h)
				r := h.do(req{method: "POST", path: "/users", token: h.AdminToken, body: userBody(tc.attrs)})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				checkAttributePointers(t, r, tc.pointers)
				if after := userTotal(t, h); after != before {
					t.Fatalf("users went from %d to %d", before, after)
				}
			})
		}
		t.Run("creating a user from a document of another type is a conflict", func(t *testing.T) {
			body := map[string]any{"data": map[string]any{"type": "apiToken", "attributes": map[string]any{"email": "b@example.com", "role": "member"}}}
			h.do(req{method: "POST", path: "/users", token: h.AdminToken, body: body}).expectStatus(t, http.StatusConflict, "conflict")
		})

		t.Run("an admin reads a user", func(t *testing.T) {
			r := h.do(req{method: "GET", path: "/users/" + memberID, token: h.AdminToken})
			r.expectStatus(t, http.StatusOK, "")
			if r.data()["id"] != memberID || r.attrs()["email"] != "ops@example.com" || r.attrs()["scopes"] != memberDefault {
				t.Fatalf("read %s", r.Body)
			}
		})
		for name, path := range map[string]string{
			"that does not exist": "/users/" + uuid.NewString(),
			"with a malformed id": "/users/not-a-user",
		} {
			t.Run("reading a user "+name+" is not found", func(t *testing.T) {
				h.do(req{method: "GET", path: path, token: h.AdminToken}).expectStatus(t, http.StatusNotFound, "not_found")
			})
		}

		t.Run("an admin lists users a page at a time", func(t *testing.T) {
			for i := 0; i < 3; i++ {
				h.user(apitoken.RoleMember)
			}
			total := userTotal(t, h)
			seen := map[string]bool{}
			for offset := 0; offset < total; offset += 2 {
				r := h.do(req{method: "GET", path: "/users?page[limit]=2&page[offset]=" + strconv.Itoa(offset), token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				doc := r.doc()
				pg := doc["meta"].(map[string]any)["pagination"].(map[string]any)
				if pg["limit"] != 2.0 || pg["offset"] != float64(offset) || pg["total"] != float64(total) {
					t.Fatalf("meta.pagination = %v at offset %d of %d", pg, offset, total)
				}
				links := doc["links"].(map[string]any)
				if want := h.URL + "/users?page%5Blimit%5D=2&page%5Boffset%5D=" + strconv.Itoa(offset); links["self"] != want {
					t.Errorf("self = %v, want %s", links["self"], want)
				}
				if want := h.URL + "/users?page%5Blimit%5D=2&page%5Boffset%5D=0"; links["first"] != want {
					t.Errorf("first = %v, want %s", links["first"], want)
				}
				if (links["prev"] == nil) != (offset == 0) || (links["next"] == nil) != (offset+2 >= total) {
					t.Errorf("at offset %d of %d: prev = %v, next = %v", offset, total, links["prev"], links["next"])
				}
				page := r.list()
				if want := min(2, total-offset); len(page) != want {
					t.Fatalf("page at %d has %d users, want %d", offset, len(page), want)
				}
				for _, u := range page {
					id := u["id"].(string)
					if seen[id] {
						t.Fatalf("user %s listed twice", id)
					}
					seen[id] = true
				}
			}
			for _, id := range []string{h.AdminID, memberID} {
				if !seen[id] {
					t.Errorf("user %s missing from the pages", id)
				}
			}
		})
		t.Run("listing users with an unknown query parameter is invalid", func(t *testing.T) {
			r := h.do(req{method: "GET", path: "/users?filter[role]=admin", token: h.AdminToken})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			if src := r.errors()[0]["source"].(map[string]any); src["parameter"] != "filter[role]" {
				t.Fatalf("source = %v", src)
			}
		})

		patch := func(t *testing.T, id string, attrs map[string]any) *response {
			t.Helper()
			return h.do(req{method: "PATCH", path: "/users/" + id, token: h.AdminToken, body: userPatchBody(id, attrs)})
		}
		for _, tc := range []struct {
			name  string
			attrs map[string]any
			want  map[string]any
		}{
			{"promotes a member to admin, which gains the admin's default scopes",
				map[string]any{"role": "admin"}, map[string]any{"role": "admin", "scopes": adminDefault}},
			{"sets a user's scopes", map[string]any{"scopes": "customers users"}, map[string]any{"scopes": "customers users"}},
			{"demotes an admin to member, giving it member scopes at once",
				map[string]any{"role": "member", "scopes": "customers"}, map[string]any{"role": "member", "scopes": "customers"}},
			{"marks a user as a service", map[string]any{"service": true}, map[string]any{"service": true, "scopes": "customers"}},
			{"disables a user", map[string]any{"disabled": true}, map[string]any{"disabled": true, "service": true}},
			{"enables a user", map[string]any{"disabled": false}, map[string]any{"disabled": false}},
		} {
			t.Run("an admin "+tc.name, func(t *testing.T) {
				r := patch(t, memberID, tc.attrs)
				r.expectStatus(t, http.StatusOK, "")
				read := h.do(req{method: "GET", path: "/users/" + memberID, token: h.AdminToken})
				for k, v := range tc.want {
					if got := r.attrs()[k]; got != v {
						t.Errorf("PATCH answered %s = %v, want %v", k, got, v)
					}
					if got := read.attrs()[k]; got != v {
						t.Errorf("GET then shows %s = %v, want %v", k, got, v)
					}
				}
			})
		}
		for _, tc := range []struct {
			name     string
			attrs    map[string]any
			pointers []string
		}{
			{"gives a member the users-write scope", map[string]any{"scopes": "users-write"}, []string{"scopes"}},
			{"sets an unknown role", map[string]any{"role": "owner"}, []string{"role"}},
			{"changes the read-only email", map[string]any{"email": "new@example.com"}, []string{"email"}},
			{"sends disabled as a string", map[string]any{"disabled": "true"}, []string{"disabled"}},
		} {
			t.Run("a PATCH that "+tc.name+" is invalid and changes nothing", func(t *testing.T) {
				before := h.do(req{method: "GET", path: "/users/" + memberID, token: h.AdminToken}).attrs()
				r := patch(t, memberID, tc.attrs)
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				checkAttributePointers(t, r, tc.pointers)
				after := h.do(req{method: "GET", path: "/users/" + memberID, token: h.AdminToken}).attrs()
				for k, v := range before {
					if after[k] != v {
						t.Errorf("%s changed from %v to %v", k, v, after[k])
					}
				}
			})
		}
		t.Run("updating a user that does not exist is not found", func(t *testing.T) {
			id := uuid.NewString()
			patch(t, id, map[string]any{"service": true}).expectStatus(t, http.StatusNotFound, "not_found")
		})
	})
}

// TestAdminsKeepThemselves checks that an admin cannot demote or disable
// itself, so that tokend always keeps an admin who can undo a mistake,
// while it can demote and disable other admins.
func TestAdminsKeepThemselves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	patch := func(id string, attrs map[string]any) *response {
		return h.do(req{method: "PATCH", path: "/users/" + id, token: h.AdminToken, body: userPatchBody(id, attrs)})
	}
	for name, attrs := range map[string]map[string]any{
		"demote":  {"role": "member"},
		"disable": {"disabled": true},
	} {
		t.Run("an admin cannot "+name+" itself", func(t *testing.T) {
			patch(h.AdminID, attrs).expectStatus(t, http.StatusConflict, "conflict")
			r := h.do(req{method: "GET", path: "/users/" + h.AdminID, token: h.AdminToken})
			r.expectStatus(t, http.StatusOK, "")
			if a := r.attrs(); a["role"] != "admin" || a["disabled"] != false {
				t.Fatalf("admin is now %v", a)
			}
		})
		t.Run("an admin can "+name+" another admin", func(t *testing.T) {
			other := h.user(apitoken.RoleAdmin)
			r := patch(other, attrs)
			r.expectStatus(t, http.StatusOK, "")
			for k, v := range attrs {
				if r.attrs()[k] != v {
					t.Fatalf("%s = %v, want %v", k, r.attrs()[k], v)
				}
			}
		})
	}
	t.Run("an admin can change its own scopes and service flag", func(t *testing.T) {
		r := patch(h.AdminID, map[string]any{"service": true})
		r.expectStatus(t, http.StatusOK, "")
		if r.attrs()["service"] != true || r.attrs()["role"] != "admin" {
			t.Fatalf("attributes = %v", r.attrs())
		}
	})
}

// TestUserAuthorization checks who may use the user endpoints: admins with
// users to read, with users-write to create and update; never members.
func TestUserAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	memberToken, _ := h.mint(member, tokenSpec{scope: "customers api-tokens api-tokens-write"})
	readAdmin, _ := h.mint(h.AdminID, tokenSpec{scope: "users"})
	writeAdmin, _ := h.mint(h.AdminID, tokenSpec{scope: "users-write"})
	neither, _ := h.mint(h.AdminID, tokenSpec{scope: "api-tokens api-tokens-write"})

	newUser := func() any {
		return userBody(map[string]any{"email": uuid.NewString() + "@example.com", "role": "member"})
	}
	type call struct {
		name, method, path string
		body               func() any
	}
	list := call{"list users", "GET", "/users", nil}
	readMember := call{"read the member", "GET", "/users/" + member, nil}
	readAdminUser := call{"read the admin", "GET", "/users/" + h.AdminID, nil}
	create := call{"create a user", "POST", "/users", newUser}
	updateSelf := call{"update itself", "PATCH", "/users/" + member, func() any { return userPatchBody(member, map[string]any{"service": true}) }}
	updateOther := call{"update another user", "PATCH", "/users/" + h.AdminID, func() any { return userPatchBody(h.AdminID, map[string]any{"service": true}) }}

	for _, tc := range []struct {
		who, token string
		call       call
		status     int
		// scope is the scope the 403 challenge names, if one.
		scope string
	}{
		{"a member", memberToken, list, 403, "users"},
		{"a member", memberToken, readMember, 200, ""},
		{"a member", memberToken, readAdminUser, 403, "users"},
		{"a member", memberToken, create, 403, "users-write"},
		{"a member", memberToken, updateSelf, 403, "users-write"},
		{"a member", memberToken, updateOther, 403, "users-write"},
		{"an admin token with only users", readAdmin, list, 200, ""},
		{"an admin token with only users", readAdmin, readAdminUser, 200, ""},
		{"an admin token with only users", readAdmin, readMember, 200, ""},
		{"an admin token with only users", readAdmin, create, 403, "users-write"},
		{"an admin token with only users", readAdmin, updateOther, 403, "users-write"},
		{"an admin token with only users-write", writeAdmin, list, 403, "users"},
		{"an admin token with only users-write", writeAdmin, readAdminUser, 200, ""},
		{"an admin token with only users-write", writeAdmin, readMember, 403, "users"},
		{"an admin token with only users-write", writeAdmin, create, 201, ""},
		{"an admin token with only users-write", writeAdmin, updateOther, 200, ""},
		{"an admin token without user scopes", neither, list, 403, "users"},
		{"an admin token without user scopes", neither, create, 403, "users-write"},
	} {
		verb := "can"
		if tc.status == 403 {
			verb = "cannot"
		}
		t.Run(tc.who+" "+verb+" "+tc.call.name, func(t *testing.T) {
			var body any
			if tc.call.body != nil {
				body = tc.call.body()
			}
			r := h.do(req{method: tc.call.method, path: tc.call.path, token: tc.token, body: body})
			if tc.status != 403 {
				r.expectStatus(t, tc.status, "")
				return
			}
			r.expectStatus(t, 403, "forbidden")
			if c := r.Header.Get("WWW-Authenticate"); !strings.Contains(c, `scope="`+tc.scope+`"`) {
				t.Fatalf("WWW-Authenticate = %q, want scope %q", c, tc.scope)
			}
		})
	}

	t.Run("a member's token never holds the users scope, even when its claims list it", func(t *testing.T) {
		forged := h.forge(member, verifier.Claims{Scope: "users api-tokens", IssuedAt: time.Now(), NotBefore: time.Now(), Expiration: time.Now().Add(time.Hour)}, nil)
		h.do(req{method: "GET", path: tokensPath(member), token: forged}).expectStatus(t, http.StatusOK, "")
		h.do(req{method: "GET", path: "/users", token: forged}).expectStatus(t, http.StatusForbidden, "forbidden")
	})
	t.Run("an admin demoted to member loses the users scope of its existing tokens", func(t *testing.T) {
		other := h.user(apitoken.RoleAdmin)
		token, _ := h.mint(other, tokenSpec{scope: "users api-tokens"})
		h.do(req{method: "GET", path: "/users", token: token}).expectStatus(t, http.StatusOK, "")
		h.do(req{method: "PATCH", path: "/users/" + other, token: h.AdminToken,
			body: userPatchBody(other, map[string]any{"role": "member"})}).expectStatus(t, http.StatusOK, "")
		h.do(req{method: "GET", path: "/users", token: token}).expectStatus(t, http.StatusForbidden, "forbidden")
		h.do(req{method: "GET", path: tokensPath(other), token: token}).expectStatus(t, http.StatusOK, "")
	})
}

// TestDisablingAUser checks that disabling a user through the API refuses
// its tokens on their next request, and enabling it restores them.
func TestDisablingAUser(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		tokens := []string{}
		for _, scope := range []string{"api-tokens", "api-tokens customers"} {
			token, _ := h.mint(member, tokenSpec{scope: scope})
			tokens = append(tokens, token)
		}
		setDisabled := func(t *testing.T, disabled bool) {
			t.Helper()
			r := h.do(req{method: "PATCH", path: "/users/" + member, token: h.AdminToken,
				body: userPatchBody(member, map[string]any{"disabled": disabled})})
			r.expectStatus(t, http.StatusOK, "")
			if r.attrs()["disabled"] != disabled {
				t.Fatalf("disabled = %v, want %v", r.attrs()["disabled"], disabled)
			}
		}
		expectAll := func(t *testing.T, status int, code string) {
			t.Helper()
			for _, token := range tokens {
				h.do(req{method: "GET", path: tokensPath(member), token: token}).expectStatus(t, status, code)
			}
		}

		t.Run("a user's tokens work while it is enabled", func(t *testing.T) { expectAll(t, http.StatusOK, "") })
		t.Run("a disabled user's tokens are refused at once", func(t *testing.T) {
			setDisabled(t, true)
			expectAll(t, http.StatusUnauthorized, "unauthorized")
		})
		t.Run("no token can be created for a disabled user", func(t *testing.T) {
			before := countTokens(t, h, member)
			r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(validAttrs())})
			r.expectStatus(t, http.StatusConflict, "conflict")
			if n := countTokens(t, h, member); n != before {
				t.Fatalf("tokens went from %d to %d", before, n)
			}
		})
		t.Run("re-enabling the user restores its tokens", func(t *testing.T) {
			setDisabled(t, false)
			expectAll(t, http.StatusOK, "")
		})
	})
}

// userBody returns a user create document with the attributes.
func userBody(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "user", "attributes": attrs}}
}

// userPatchBody returns a user update document with the attributes.
func userPatchBody(id string, attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "user", "id": id, "attributes": attrs}}
}

// userTotal returns the number of users, as GET /users counts them.
func userTotal(t *testing.T, h *harness) int {
	t.Helper()
	r := h.do(req{method: "GET", path: "/users?page[limit]=1", token: h.AdminToken})
	r.expectStatus(t, http.StatusOK, "")
	return int(r.doc()["meta"].(map[string]any)["pagination"].(map[string]any)["total"].(float64))
}

// checkAttributePointers checks that the errors point at exactly the
// attributes named, each once.
func checkAttributePointers(t *testing.T, r *response, attrs []string) {
	t.Helper()
	var got []string
	for _, e := range r.errors() {
		src, _ := e["source"].(map[string]any)
		ptr, _ := src["pointer"].(string)
		got = append(got, strings.TrimPrefix(ptr, "/data/attributes/"))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(attrs))
	if !slices.Equal(got, want) {
		t.Fatalf("errors point at %v, want %v\n%s", got, want, r.Body)
	}
}

// TestUpdatingAUserChecksOnlyWhatChanges checks that a PATCH validates the
// attributes it changes and leaves the others alone: a user holding a
// scope the catalog no longer lists can still be disabled, as an incident
// may need at once.
func TestUpdatingAUserChecksOnlyWhatChanges(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		now := time.Now().UTC()
		u := apitoken.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: apitoken.RoleMember,
			Scopes: []string{"customers", "scope-dropped-from-the-catalog"}, CreatedAt: now, UpdatedAt: now}
		if err := h.Store.Users.Create(context.Background(), &u); err != nil {
			t.Fatal(err)
		}
		patch := func(attrs map[string]any) *response {
			return h.do(req{method: "PATCH", path: "/users/" + u.ID, token: h.AdminToken, body: userPatchBody(u.ID, attrs)})
		}
		r := patch(map[string]any{"disabled": true})
		r.expectStatus(t, http.StatusOK, "")
		if r.attrs()["disabled"] != true || r.attrs()["scopes"] != "customers" {
			t.Fatalf("after disabling: %v", r.attrs())
		}
		patch(map[string]any{"service": true, "disabled": false}).expectStatus(t, http.StatusOK, "")
		// Scopes that are sent are checked in full.
		r = patch(map[string]any{"scopes": "customers scope-dropped-from-the-catalog"})
		r.expectStatus(t, http.StatusBadRequest, "invalid_value")
		checkAttributePointers(t, r, []string{"scopes"})
	})
}
