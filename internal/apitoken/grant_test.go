package apitoken_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/errcode"
)

// TestCheckGrant is the table of the no-escalation rule: what a token may
// grant, for its own user, another member and another admin.
func TestCheckGrant(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\npayments\n")
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	self := apitoken.User{ID: "self", Role: apitoken.RoleAdmin}
	member := apitoken.User{ID: "member", Role: apitoken.RoleMember, Scopes: []string{"customers", "accounts", "payments"}}
	narrowMember := apitoken.User{ID: "narrow", Role: apitoken.RoleMember, Scopes: []string{"customers"}}
	admin := apitoken.User{ID: "admin", Role: apitoken.RoleAdmin}
	grantor := apitoken.Grantor{UserID: "self", Scopes: []string{"customers", "api-tokens-write"}, Expiration: now.Add(24 * time.Hour)}
	restricted := grantor
	restricted.SourceIP = "10.0.0.0/8"
	restricted.Resources = []apitoken.Resource{{Type: "account", IDs: []string{"1", "2"}}}
	spec := func(scope string, exp time.Duration, mod ...func(*apitoken.TokenSpec)) apitoken.TokenSpec {
		s := apitoken.TokenSpec{Scope: scope, Scopes: strings.Fields(scope), Expiration: now.Add(exp)}
		for _, m := range mod {
			m(&s)
		}
		return s
	}
	from := func(ip string) func(*apitoken.TokenSpec) { return func(s *apitoken.TokenSpec) { s.SourceIP = ip } }
	on := func(ids ...string) func(*apitoken.TokenSpec) {
		return func(s *apitoken.TokenSpec) { s.Resources = []apitoken.Resource{{Type: "account", IDs: ids}} }
	}

	tests := []struct {
		name    string
		grantor apitoken.Grantor
		target  apitoken.User
		spec    apitoken.TokenSpec
		refused []string // the attributes at fault; none means granted
	}{
		{"for itself, a subset of its scopes within its lifetime", grantor, self, spec("customers", time.Hour), nil},
		{"for itself, a scope it does not hold", grantor, self, spec("customers accounts", time.Hour), []string{"scope"}},
		{"for itself, a lifetime beyond its own", grantor, self, spec("customers", 48*time.Hour), []string{"expiration"}},
		{"for itself, both at once", grantor, self, spec("accounts", 48*time.Hour), []string{"scope", "expiration"}},
		{"for itself, exactly its own expiration", grantor, self, spec("customers", 24*time.Hour), nil},
		{"for a member, scopes the member holds beyond its own", grantor, member, spec("accounts payments", 48*time.Hour), nil},
		{"for a member, a scope the member may not hold", grantor, narrowMember, spec("accounts", time.Hour), []string{"scope"}},
		{"for another admin, a scope it does not hold", grantor, admin, spec("accounts", time.Hour), []string{"scope"}},
		{"for another admin, a lifetime beyond its own", grantor, admin, spec("customers", 48*time.Hour), []string{"expiration"}},
		{"restricted, for itself, within its restrictions", restricted, self, spec("customers", time.Hour, from("10.1.0.0/16"), on("1")), nil},
		{"restricted, for itself, without restrictions", restricted, self, spec("customers", time.Hour), []string{"sourceIp", "resources"}},
		{"restricted, for a member, a wider source range", restricted, member, spec("accounts", time.Hour, from("0.0.0.0/0"), on("2")), []string{"sourceIp"}},
		{"restricted, for another admin, another resource", restricted, admin, spec("customers", time.Hour, from("10.0.0.1"), on("3")), []string{"resources"}},
		{"restricted, for a member, within its restrictions", restricted, member, spec("payments", 48*time.Hour, from("10.0.0.1"), on("1", "2")), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := apitoken.CheckGrant(tc.grantor, &tc.target, c, tc.spec)
			var fields []string
			if err != nil {
				for _, e := range apitoken.ErrorList(err) {
					if e.Code != apitoken.Forbidden {
						t.Errorf("code %q, want forbidden: %v", e.Code, e)
					}
					fields = append(fields, e.Field)
				}
			}
			if !slices.Equal(fields, tc.refused) {
				t.Fatalf("refused %v, want %v (%v)", fields, tc.refused, err)
			}
		})
	}
}

// TestGrantFor checks the most a token may grant against CheckGrant: the
// Grant itself is granted, and one more scope or one second more is not.
func TestGrantFor(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\npayments\n")
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	latest := now.Add(366 * 24 * time.Hour).Add(300 * time.Millisecond)
	self := apitoken.User{ID: "self", Role: apitoken.RoleAdmin}
	member := apitoken.User{ID: "member", Role: apitoken.RoleMember, Scopes: []string{"accounts", "payments"}}
	admin := apitoken.User{ID: "admin", Role: apitoken.RoleAdmin}
	grantor := apitoken.Grantor{UserID: "self", Scopes: []string{"customers", "payments", "api-tokens-write"}, Expiration: now.Add(24 * time.Hour)}
	restricted := grantor
	restricted.SourceIP = "10.0.0.0/8"
	restricted.Resources = []apitoken.Resource{{Type: "account", IDs: []string{"1"}}}

	tests := []struct {
		name       string
		grantor    apitoken.Grantor
		target     apitoken.User
		wantScopes []string
		wantMax    time.Time
	}{
		{"for itself, its own scopes until its own expiration", grantor, self, []string{"customers", "payments", "api-tokens-write"}, now.Add(24 * time.Hour)},
		{"for a member, the member's scopes for the longest lifetime", grantor, member, []string{"accounts", "payments"}, latest.Truncate(time.Second)},
		{"for another admin, the scopes both hold until its own expiration", grantor, admin, []string{"customers", "payments", "api-tokens-write"}, now.Add(24 * time.Hour)},
		{"restricted, for a member, with its restrictions", restricted, member, []string{"accounts", "payments"}, latest.Truncate(time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.grantor.GrantFor(&tc.target, c, latest)
			if !slices.Equal(g.Scopes, tc.wantScopes) || !g.MaxExpiration.Equal(tc.wantMax) {
				t.Fatalf("GrantFor = %v until %v, want %v until %v", g.Scopes, g.MaxExpiration, tc.wantScopes, tc.wantMax)
			}
			if g.SourceIP != tc.grantor.SourceIP || !slices.EqualFunc(g.Resources, tc.grantor.Resources, func(a, b apitoken.Resource) bool {
				return a.Type == b.Type && slices.Equal(a.IDs, b.IDs)
			}) {
				t.Fatalf("GrantFor restrictions = %q %v, want the grantor's", g.SourceIP, g.Resources)
			}
			spec := apitoken.TokenSpec{Scope: strings.Join(g.Scopes, " "), Scopes: g.Scopes, Expiration: g.MaxExpiration,
				SourceIP: g.SourceIP, Resources: g.Resources}
			if err := apitoken.CheckGrant(tc.grantor, &tc.target, c, spec); err != nil {
				t.Fatalf("CheckGrant refuses the grant itself: %v", err)
			}
			for _, extra := range apitoken.Subtract(c.Default(apitoken.RoleAdmin), g.Scopes) {
				more := spec
				more.Scopes = append(slices.Clone(g.Scopes), extra)
				if apitoken.CheckGrant(tc.grantor, &tc.target, c, more) == nil {
					t.Errorf("CheckGrant grants %q too, which GrantFor left out", extra)
				}
			}
			if g.MaxExpiration.Before(latest.Truncate(time.Second)) {
				later := spec
				later.Expiration = g.MaxExpiration.Add(time.Second)
				if apitoken.CheckGrant(tc.grantor, &tc.target, c, later) == nil {
					t.Errorf("CheckGrant grants a second past %v", g.MaxExpiration)
				}
			}
		})
	}
}

// TestEveryCodeIsInTheOneTable checks that each application code means
// something on the wire.
func TestEveryCodeIsInTheOneTable(t *testing.T) {
	for _, c := range apitoken.Codes {
		if _, ok := errcode.Lookup(errcode.Code(c)); !ok {
			t.Errorf("%s is not in errcode's table", c)
		}
	}
}
