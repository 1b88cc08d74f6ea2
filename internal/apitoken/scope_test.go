package apitoken_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/schema"
)

// MustParseCatalog parses a catalog file or fails the test.
func MustParseCatalog(tb testing.TB, data string) *apitoken.Catalog {
	tb.Helper()
	c, err := apitoken.ParseCatalog([]byte(data))
	if err != nil {
		tb.Fatalf("ParseCatalog: %v", err)
	}
	return c
}

// serviceScopeNames are tokend's own scopes, in the order ParseCatalog
// appends them.
var serviceScopeNames = []string{"api-tokens", "api-tokens-write", "users", "users-write", "introspect", "audit", "webhooks", "webhooks-write"}

func scopeNames(infos []apitoken.ScopeInfo) []string {
	names := make([]string, len(infos))
	for i, s := range infos {
		names[i] = s.Name
	}
	return names
}

func TestParseCatalogReadsNamesAndDescriptions(t *testing.T) {
	c := MustParseCatalog(t, "# a comment\n\n"+
		"customers        Read customers\n"+
		"   # an indented comment\n"+
		"accounts-write\tCreate, update and close   accounts \n"+
		"bare\n"+
		"\r\n"+
		"crlf   Line ending with CR LF\r\n")

	want := []apitoken.ScopeInfo{
		{Name: "customers", Description: "Read customers"},
		{Name: "accounts-write", Description: "Create, update and close   accounts"},
		{Name: "bare", Description: ""},
		{Name: "crlf", Description: "Line ending with CR LF"},
	}
	got := c.All()
	if len(got) != len(want)+len(apitoken.ServiceScopes) {
		t.Fatalf("All() = %q, want the 4 listed scopes and tokend's 5", scopeNames(got))
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("listed scopes = %#v, want %#v", got[:len(want)], want)
	}
	if !slices.Equal(got[len(want):], apitoken.ServiceScopes) {
		t.Errorf("scopes after the listed ones = %#v, want tokend's own %#v", got[len(want):], apitoken.ServiceScopes)
	}
	for _, name := range []string{"customers", "accounts-write", "bare", "crlf", "api-tokens", "introspect"} {
		if !c.Has(name) {
			t.Errorf("Has(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"", "#", "a", "Read", "customers ", "crlf\r"} {
		if c.Has(name) {
			t.Errorf("Has(%q) = true, want false", name)
		}
	}
}

func TestParseCatalogAlwaysHoldsTokendsOwnScopes(t *testing.T) {
	t.Run("an empty file holds only tokend's scopes", func(t *testing.T) {
		got := scopeNames(MustParseCatalog(t, "").All())
		if !slices.Equal(got, serviceScopeNames) {
			t.Fatalf("All() = %q, want %q", got, serviceScopeNames)
		}
	})
	t.Run("a file listing one of tokend's scopes keeps its line and adds the others once", func(t *testing.T) {
		got := MustParseCatalog(t, "users Our own wording\ncustomers\n").All()
		want := []apitoken.ScopeInfo{
			{Name: "users", Description: "Our own wording"},
			{Name: "customers"},
			apitoken.ServiceScopes[0], apitoken.ServiceScopes[1], apitoken.ServiceScopes[3], apitoken.ServiceScopes[4],
			apitoken.ServiceScopes[5], apitoken.ServiceScopes[6], apitoken.ServiceScopes[7],
		}
		if !slices.Equal(got, want) {
			t.Fatalf("All() = %#v, want %#v", got, want)
		}
	})
	t.Run("All returns a copy the caller cannot change the catalog through", func(t *testing.T) {
		c := MustParseCatalog(t, "customers\n")
		all := c.All()
		all[0].Name = "hijacked"
		if c.All()[0].Name != "customers" || c.Has("hijacked") {
			t.Fatal("changing All()'s result changed the catalog")
		}
	})
}

func TestParseCatalogOfTheDefaultFile(t *testing.T) {
	c, err := apitoken.ParseCatalog(schema.Scopes)
	if err != nil {
		t.Fatalf("the embedded default catalog does not parse: %v", err)
	}
	got := scopeNames(c.All())
	// Unit's 46 scopes, then tokend's own but webhooks and
	// webhooks-write, which Unit's list has already.
	n := len(serviceScopeNames) - 2
	if len(got) != 46+n {
		t.Fatalf("default catalog has %d scopes, want %d: %q", len(got), 46+n, got)
	}
	for _, name := range []string{"customers", "customers-write", "accounts", "payments-write", "wire-drawdowns-write"} {
		if !c.Has(name) {
			t.Errorf("default catalog lacks Unit's %q", name)
		}
	}
	if !slices.Equal(got[len(got)-n:], serviceScopeNames[:n]) {
		t.Errorf("default catalog ends with %q, want tokend's scopes %q", got[len(got)-n:], serviceScopeNames[:n])
	}
	for _, s := range c.All() {
		if s.Description == "" {
			t.Errorf("default scope %q has no description", s.Name)
		}
	}
}

func TestParseCatalogRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"an upper-case name", "customers\nCustomers\n", []string{"line 2", `"Customers"`, "not a valid scope name"}},
		{"a name starting with a dash", "-customers\n", []string{"line 1", `"-customers"`}},
		{"a name with punctuation", "\n\ncustomers!\n", []string{"line 3", `"customers!"`}},
		{"a name with an underscore first", "_x Read x\n", []string{"line 1", `"_x"`}},
		{"a name with non-ASCII letters", "kundén\n", []string{"line 1", "not a valid scope name"}},
		{"a name listed twice", "a\n# comment\nb\na Again\n", []string{"line 4", `"a"`, "listed twice"}},
		{"one of tokend's scopes listed twice", "introspect\nintrospect\n", []string{"line 2", `"introspect"`, "listed twice"}},
		{"a line longer than the scanner's buffer", "a " + strings.Repeat("x", 70<<10) + "\n", []string{"scope catalog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := apitoken.ParseCatalog([]byte(tt.data))
			if err == nil {
				t.Fatalf("ParseCatalog succeeded with %q, want an error", scopeNames(c.All()))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCatalogParseScope(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\ncards\ncards-write\n")
	valid := []struct {
		name, in string
		want     []string
	}{
		{"one scope", "customers", []string{"customers"}},
		{"scopes keep the order given", "cards accounts customers", []string{"cards", "accounts", "customers"}},
		{"tokend's own scopes are known", "api-tokens introspect", []string{"api-tokens", "introspect"}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ParseScope(tt.in)
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParseScope(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	invalid := []struct {
		name, in, want string
	}{
		{"an empty value", "", "must list at least one scope"},
		{"a leading space", " customers", "must be scopes separated by single spaces"},
		{"a trailing space", "customers ", "must be scopes separated by single spaces"},
		{"a double space", "customers  accounts", "must be scopes separated by single spaces"},
		{"a lone space", " ", "must be scopes separated by single spaces"},
		{"a tab", "customers\taccounts", "must be scopes separated by single spaces"},
		{"a newline", "customers\naccounts", "must be scopes separated by single spaces"},
		{"a comma", "customers,accounts", "must be scopes separated by single spaces"},
		{"an unknown scope", "customers nope", `lists unknown scope "nope"`},
		{"unknown scopes, each named once", "zilch customers nope", `lists unknown scopes "zilch", "nope"`},
		{"a scope differing only in case", "Customers", `lists unknown scope "Customers"`},
		{"a repeated scope", "customers accounts customers", `repeats "customers"`},
		{"scopes repeated several times, each named once", "cards cards accounts cards accounts", `repeats "cards", "accounts"`},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			got, err := c.ParseScope(tt.in)
			if err == nil {
				t.Fatalf("ParseScope(%q) = %q, want an error", tt.in, got)
			}
			if got != nil {
				t.Errorf("ParseScope(%q) returned scopes %q with its error", tt.in, got)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseScope(%q) error = %q, want %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestCatalogDefault(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts-write\n")
	tests := []struct {
		role apitoken.Role
		want []string
	}{
		{apitoken.RoleAdmin, []string{"customers", "accounts-write", "api-tokens", "api-tokens-write", "users", "users-write", "introspect", "audit", "webhooks", "webhooks-write"}},
		// introspect is opt-in for members.
		{apitoken.RoleMember, []string{"customers", "accounts-write", "api-tokens", "api-tokens-write", "webhooks", "webhooks-write"}},
		// An unknown role is treated as the least privileged.
		{apitoken.Role("owner"), []string{"customers", "accounts-write", "api-tokens", "api-tokens-write", "webhooks", "webhooks-write"}},
	}
	for _, tt := range tests {
		t.Run("a "+string(tt.role)+" gets "+strings.Join(tt.want, " "), func(t *testing.T) {
			if got := c.Default(tt.role); !slices.Equal(got, tt.want) {
				t.Fatalf("Default(%s) = %q, want %q", tt.role, got, tt.want)
			}
		})
	}
	t.Run("members never get users or users-write, even when the file lists them", func(t *testing.T) {
		c := MustParseCatalog(t, "users\nusers-write\ncustomers\n")
		got := c.Default(apitoken.RoleMember)
		if slices.Contains(got, "users") || slices.Contains(got, "users-write") {
			t.Fatalf("Default(member) = %q, holds an admin-only scope", got)
		}
		if !slices.Contains(got, "customers") {
			t.Fatalf("Default(member) = %q, lacks customers", got)
		}
	})
}

func TestSubtractAndIntersect(t *testing.T) {
	a := []string{"customers", "accounts", "cards"}
	b := []string{"cards", "payments", "customers"}
	if got, want := apitoken.Subtract(a, b), []string{"accounts"}; !slices.Equal(got, want) {
		t.Errorf("Subtract = %q, want %q", got, want)
	}
	if got := apitoken.Subtract(a, a); got != nil {
		t.Errorf("Subtract of a set from itself = %q, want nil", got)
	}
	if got, want := apitoken.Intersect(a, b), []string{"customers", "cards"}; !slices.Equal(got, want) {
		t.Errorf("Intersect = %q, want %q (in a's order)", got, want)
	}
	if got := apitoken.Intersect(a, nil); got != nil {
		t.Errorf("Intersect with nothing = %q, want nil", got)
	}
}
