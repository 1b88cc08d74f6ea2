package apitoken_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
)

func TestUserAllowedScopes(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\n")
	tests := []struct {
		name string
		user apitoken.User
		want []string
	}{
		{"an admin without a list gets the whole catalog",
			apitoken.User{Role: apitoken.RoleAdmin},
			[]string{"customers", "accounts", "api-tokens", "api-tokens-write", "users", "users-write", "introspect", "audit", "webhooks", "webhooks-write"}},
		{"a member without a list gets the catalog less the admin-only and opt-in scopes",
			apitoken.User{Role: apitoken.RoleMember},
			[]string{"customers", "accounts", "api-tokens", "api-tokens-write", "webhooks", "webhooks-write"}},
		{"a member given introspect explicitly holds it",
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"introspect", "customers"}},
			[]string{"introspect", "customers"}},
		{"a user with a list gets that list, in its order",
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"accounts", "api-tokens"}},
			[]string{"accounts", "api-tokens"}},
		{"a scope the catalog dropped is no longer allowed",
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"cards", "customers"}},
			[]string{"customers"}},
		{"a member demoted from admin loses the admin-only scopes of its list",
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"users", "customers", "users-write"}},
			[]string{"customers"}},
		{"an admin keeps the admin-only scopes of its list",
			apitoken.User{Role: apitoken.RoleAdmin, Scopes: []string{"users", "users-write"}},
			[]string{"users", "users-write"}},
		{"an empty list allows nothing, unlike no list",
			apitoken.User{Role: apitoken.RoleAdmin, Scopes: []string{}},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.user.AllowedScopes(c); !slices.Equal(got, tt.want) {
				t.Fatalf("AllowedScopes = %q, want %q", got, tt.want)
			}
			for _, sc := range []string{"customers", "accounts", "cards", "users", "users-write", "api-tokens", "introspect"} {
				if got, want := tt.user.MayHold(c, sc), slices.Contains(tt.want, sc); got != want {
					t.Errorf("MayHold(%q) = %v, want %v as AllowedScopes says", sc, got, want)
				}
			}
		})
	}
}

func TestUserRequestValidate(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\n")

	valid := []struct {
		name string
		req  apitoken.UserRequest
		want apitoken.User
	}{
		{"a member with the default scopes",
			apitoken.UserRequest{Email: "ops@example.com", Role: "member"},
			apitoken.User{Email: "ops@example.com", Role: apitoken.RoleMember}},
		{"an email is trimmed and lower-cased",
			apitoken.UserRequest{Email: "  Ops.Team@Example.COM ", Role: "admin"},
			apitoken.User{Email: "ops.team@example.com", Role: apitoken.RoleAdmin}},
		{"a service user with explicit scopes",
			apitoken.UserRequest{Email: "ci@example.com", Role: "member", Scopes: ptr("accounts customers"), Service: true},
			apitoken.User{Email: "ci@example.com", Role: apitoken.RoleMember, Scopes: []string{"accounts", "customers"}, Service: true}},
		{"an admin may hold users and users-write",
			apitoken.UserRequest{Email: "root@example.com", Role: "admin", Scopes: ptr("users users-write")},
			apitoken.User{Email: "root@example.com", Role: apitoken.RoleAdmin, Scopes: []string{"users", "users-write"}}},
	}
	for _, tt := range valid {
		t.Run(tt.name+" is valid", func(t *testing.T) {
			got, err := tt.req.Validate(c)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got.Email != tt.want.Email || got.Role != tt.want.Role || got.Service != tt.want.Service ||
				!slices.Equal(got.Scopes, tt.want.Scopes) || (got.Scopes == nil) != (tt.want.Scopes == nil) {
				t.Fatalf("Validate = %+v, want %+v", got, tt.want)
			}
			if got.ID != "" || got.Disabled || !got.CreatedAt.IsZero() {
				t.Fatalf("Validate set fields it does not own: %+v", got)
			}
		})
	}

	invalid := []struct {
		name   string
		req    apitoken.UserRequest
		fields []string
		detail string // a substring of the first error's detail
	}{
		{"an empty email", apitoken.UserRequest{Role: "member"}, []string{"email"}, "plain email address"},
		{"an email without a domain", apitoken.UserRequest{Email: "ops", Role: "member"}, []string{"email"}, "plain email address"},
		{"an email with a display name", apitoken.UserRequest{Email: "Ops <ops@example.com>", Role: "member"}, []string{"email"}, "plain email address"},
		{"two emails", apitoken.UserRequest{Email: "a@example.com, b@example.com", Role: "member"}, []string{"email"}, "plain email address"},
		{"an email longer than 254 characters", apitoken.UserRequest{Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", Role: "member"}, []string{"email"}, "plain email address"},
		{"an empty role", apitoken.UserRequest{Email: "ops@example.com"}, []string{"role"}, `"admin" or "member"`},
		{"a role in capitals", apitoken.UserRequest{Email: "ops@example.com", Role: "Admin"}, []string{"role"}, `"admin" or "member"`},
		{"an unknown role", apitoken.UserRequest{Email: "ops@example.com", Role: "owner"}, []string{"role"}, `"admin" or "member"`},
		{"an unknown scope", apitoken.UserRequest{Email: "ops@example.com", Role: "admin", Scopes: ptr("customers cards")}, []string{"scopes"}, `scopes lists unknown scope "cards"`},
		{"an empty scope list", apitoken.UserRequest{Email: "ops@example.com", Role: "admin", Scopes: ptr("")}, []string{"scopes"}, "at least one scope"},
		{"a member holding users", apitoken.UserRequest{Email: "ops@example.com", Role: "member", Scopes: ptr("customers users")}, []string{"scopes"}, "may only be held by admins"},
		{"a member holding users-write", apitoken.UserRequest{Email: "ops@example.com", Role: "member", Scopes: ptr("users-write")}, []string{"scopes"}, "may only be held by admins"},
		{"every problem at once", apitoken.UserRequest{Email: "nope", Role: "root", Scopes: ptr("x")}, []string{"email", "role", "scopes"}, "plain email address"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := tt.req.Validate(c)
			errs := apitoken.ErrorList(err)
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			if got := errorFields(errs); !slices.Equal(got, tt.fields) {
				t.Fatalf("errors are about %q, want %q: %v", got, tt.fields, err)
			}
			for _, e := range errs {
				if e.Code != apitoken.Invalid {
					t.Errorf("error %v has code %q, want %q", e, e.Code, apitoken.Invalid)
				}
			}
			if !strings.Contains(errs[0].Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", errs[0].Detail, tt.detail)
			}
		})
	}
}

// errorFields returns the attribute each error is about.
func errorFields(errs apitoken.Errors) []string {
	fields := make([]string, len(errs))
	for i, e := range errs {
		fields[i] = e.Field
	}
	return fields
}

func TestUserUpdateApply(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\n")
	str := func(s string) *string { return &s }
	yes := true
	tests := []struct {
		name   string
		user   apitoken.User
		update apitoken.UserUpdate
		want   apitoken.User
		fields []string // the attributes at fault, when the update is refused
	}{
		{"disabling leaves scopes the catalog dropped unchecked",
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"cards", "customers"}},
			apitoken.UserUpdate{Disabled: &yes},
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"cards", "customers"}, Disabled: true}, nil},
		{"a demoted admin keeps its explicit scopes but the admin-only ones",
			apitoken.User{Role: apitoken.RoleAdmin, Scopes: []string{"users", "customers"}},
			apitoken.UserUpdate{Role: str("member")},
			apitoken.User{Role: apitoken.RoleMember, Scopes: []string{"customers"}}, nil},
		{"scopes that are sent are checked against the catalog",
			apitoken.User{Role: apitoken.RoleMember},
			apitoken.UserUpdate{Scopes: str("cards"), Service: &yes},
			apitoken.User{Role: apitoken.RoleMember}, []string{"scopes"}},
		{"a member may not be given an admin-only scope",
			apitoken.User{Role: apitoken.RoleAdmin},
			apitoken.UserUpdate{Role: str("member"), Scopes: str("users")},
			apitoken.User{Role: apitoken.RoleAdmin}, []string{"scopes"}},
		{"an unknown role is refused with the rest of the update",
			apitoken.User{Role: apitoken.RoleMember},
			apitoken.UserUpdate{Role: str("owner"), Scopes: str("nope")},
			apitoken.User{Role: apitoken.RoleMember}, []string{"role", "scopes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.user
			err := tc.update.Apply(&u, c)
			var fields []string
			for _, e := range apitoken.ErrorList(err) {
				if err != nil {
					fields = append(fields, e.Field)
				}
			}
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("errors at %v, want %v (%v)", fields, tc.fields, err)
			}
			if u.Role != tc.want.Role || !slices.Equal(u.Scopes, tc.want.Scopes) || u.Disabled != tc.want.Disabled || u.Service != tc.want.Service {
				t.Fatalf("user = %+v, want %+v", u, tc.want)
			}
		})
	}
}
