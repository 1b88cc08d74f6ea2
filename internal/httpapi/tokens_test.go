package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/verifier"
)

// apiTimePattern matches how tokend writes times: RFC 3339 in UTC with
// milliseconds, like "2027-07-01T13:47:17.000Z".
var apiTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// apiTime formats t the way tokend writes times.
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// fromNow returns the time d from now, formatted as tokend writes times, in
// whole seconds like the expirations tokend keeps.
func fromNow(d time.Duration) string { return apiTime(time.Now().Add(d).Truncate(time.Second)) }

// attrAbsent, as a value in attrsWith's changes, removes the attribute.
var attrAbsent = struct{}{}

// attrsWith returns validAttrs with the changes applied.
func attrsWith(changes map[string]any) map[string]any {
	a := validAttrs()
	for k, v := range changes {
		if v == attrAbsent {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	return a
}

// tokenPath returns the path of one of a user's tokens.
func tokenPath(userID, tokenID string) string { return tokensPath(userID) + "/" + tokenID }

// updateBody returns an apiToken update document for the token.
func updateBody(id string, attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "apiToken", "id": id, "attributes": attrs}}
}

// mustCreateToken creates a token for the user through the API, as the
// bootstrap admin, and returns its id and token string.
func mustCreateToken(t *testing.T, h *harness, userID string, attrs map[string]any) (string, string) {
	t.Helper()
	r := h.do(req{method: "POST", path: tokensPath(userID), token: h.AdminToken, body: createBody(attrs)})
	r.expectStatus(t, http.StatusCreated, "")
	raw, _ := r.attrs()["token"].(string)
	return r.data()["id"].(string), raw
}

// mustPatchToken updates the user's token as the bootstrap admin and
// returns the attributes it answers with.
func mustPatchToken(t *testing.T, h *harness, userID, tokenID string, attrs map[string]any) map[string]any {
	t.Helper()
	r := h.do(req{method: "PATCH", path: tokenPath(userID, tokenID), token: h.AdminToken, body: updateBody(tokenID, attrs)})
	r.expectStatus(t, http.StatusOK, "")
	return r.attrs()
}

// getTokenAttrs reads the user's token as the bootstrap admin and returns
// its attributes.
func getTokenAttrs(t *testing.T, h *harness, userID, tokenID string) map[string]any {
	t.Helper()
	r := h.do(req{method: "GET", path: tokenPath(userID, tokenID), token: h.AdminToken})
	r.expectStatus(t, http.StatusOK, "")
	return r.attrs()
}

// idsOf returns the ids of the resources in a collection response.
func idsOf(r *response) []string {
	ids := []string{}
	for _, d := range r.list() {
		ids = append(ids, d["id"].(string))
	}
	return ids
}

// errorSources returns where each error of an error document points:
// its source.pointer, "?" and its source.parameter, or "" without source.
func errorSources(r *response) []string {
	var out []string
	for _, e := range r.errors() {
		src, _ := e["source"].(map[string]any)
		switch {
		case src["pointer"] != nil:
			out = append(out, src["pointer"].(string))
		case src["parameter"] != nil:
			out = append(out, "?"+src["parameter"].(string))
		default:
			out = append(out, "")
		}
	}
	return out
}

// attrPointers returns the source pointers of the named attributes.
func attrPointers(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "/data/attributes/" + n
	}
	return out
}

// expectSources fails the test unless the response's errors point at
// exactly the given sources, in any order.
func expectSources(t *testing.T, r *response, want ...string) {
	t.Helper()
	got := errorSources(r)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("error sources = %q, want %q\n%s", got, want, r.Body)
	}
}

// firstDetail returns the detail of the response's first error.
func firstDetail(r *response) string {
	d, _ := r.errors()[0]["detail"].(string)
	return d
}

// TestCreateTokenAnswersWithTheNewToken checks the create response: 201, the
// Location of the new resource, no caching, the token string exactly once,
// and attributes that round-trip in tokend's time format.
func TestCreateTokenAnswersWithTheNewToken(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		member := h.user(apitoken.RoleMember)
		exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
		resources := []any{
			map[string]any{"type": "account", "ids": []any{"1", "2"}},
			map[string]any{"type": "customer", "ids": []any{"cust-7"}},
		}
		attrs := map[string]any{
			"description": "Production token",
			"scope":       "customers applications api-tokens",
			"expiration":  apiTime(exp),
			"sourceIp":    "127.0.0.1,10.0.0.0/8,2001:db8::/32",
			"resources":   resources,
		}
		before := time.Now().Add(-time.Second)
		r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(attrs)})
		after := time.Now().Add(time.Second)
		r.expectStatus(t, http.StatusCreated, "")

		data := r.data()
		id, _ := data["id"].(string)
		if data["type"] != "apiToken" || !service.ValidID(id) {
			t.Fatalf("created resource type %v id %q, want an apiToken with a UUID", data["type"], id)
		}
		self := h.URL + tokenPath(member, id)
		if loc := r.Header.Get("Location"); loc != self {
			t.Errorf("Location = %q, want %q", loc, self)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		if links, _ := r.doc()["links"].(map[string]any); links["self"] != self {
			t.Errorf("links.self = %v, want %s", links["self"], self)
		}
		user, _ := data["relationships"].(map[string]any)["user"].(map[string]any)
		if ref, _ := user["data"].(map[string]any); ref["type"] != "user" || ref["id"] != member {
			t.Errorf("relationships.user = %v, want user %s", user, member)
		}

		a := r.attrs()
		for _, k := range []string{"description", "scope", "expiration", "sourceIp"} {
			if a[k] != attrs[k] {
				t.Errorf("%s = %v, want %v", k, a[k], attrs[k])
			}
		}
		if !reflect.DeepEqual(a["resources"], resources) {
			t.Errorf("resources = %v, want %v", a["resources"], resources)
		}
		if a["status"] != "active" || a["enabled"] != true {
			t.Errorf("status %v, enabled %v, want active and true", a["status"], a["enabled"])
		}
		created, _ := a["createdAt"].(string)
		if !apiTimePattern.MatchString(created) {
			t.Fatalf("createdAt = %q, want RFC 3339 UTC with milliseconds", created)
		}
		if at, _ := time.Parse(time.RFC3339, created); at.Before(before) || at.After(after) {
			t.Errorf("createdAt = %s, want the time of the request", created)
		}
		for _, k := range []string{"revokedAt", "lastUsedAt"} {
			if v, ok := a[k]; ok {
				t.Errorf("a new token has %s = %v", k, v)
			}
		}

		raw, _ := a["token"].(string)
		if !strings.HasPrefix(raw, "v2.public.") {
			t.Fatalf("token = %q, want a v2.public token", raw)
		}
		c, err := verifier.Parse(raw, h.Ring, verifier.Options{Issuer: "tokend", Now: time.Now()})
		if err != nil {
			t.Fatalf("the token does not verify: %v", err)
		}
		// The exp claim is RFC 3339 to the second, as PASETO writes it, and
		// equals the expiration tokend shows: fractions of a second are cut
		// from both, never rounded up.
		if c.Subject != member || c.ID != id || c.Scope != attrs["scope"] || !c.Expiration.Equal(exp.Truncate(time.Second)) ||
			a["expiration"] != apiTime(c.Expiration) ||
			c.SourceIP != attrs["sourceIp"] || len(c.Resources) != 2 || c.Resources[0].Type != "account" {
			t.Errorf("claims = %+v, want the token's attributes", c)
		}
		parts := strings.Split(raw, ".")
		footer, _ := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
		var f verifier.Footer
		if err := json.Unmarshal(footer, &f); err != nil || !strings.HasPrefix(f.KeyID, "k2.pid.") {
			t.Errorf("footer = %s, want a k2.pid key id", footer)
		}

		// The token works, from the address it is restricted to, and is
		// never shown again.
		h.do(req{method: "GET", path: tokensPath(member), token: raw}).expectStatus(t, http.StatusOK, "")
		got := getTokenAttrs(t, h, member, id)
		if _, leaked := got["token"]; leaked {
			t.Error("reading the token back shows the token string")
		}
		if got["createdAt"] != created || got["expiration"] != attrs["expiration"] {
			t.Errorf("read back createdAt %v expiration %v, want %s and %s", got["createdAt"], got["expiration"], created, attrs["expiration"])
		}
	})
}

// TestCreateTokenValidatesEachAttribute checks every rule on the create
// attributes, each with values it accepts and values it refuses.
func TestCreateTokenValidatesEachAttribute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	// The limits are relative to the server's now, which stays where it
	// is however long the cases take.
	h.Clock.Freeze()
	fromNow := func(d time.Duration) string { return apiTime(h.Clock.Now().Add(d).Truncate(time.Second)) }

	ips := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		}
		return strings.Join(s, ",")
	}
	resource := func(typ string, ids ...any) map[string]any {
		return map[string]any{"type": typ, "ids": append([]any{}, ids...)}
	}
	inBerlin := time.Now().Add(10 * 24 * time.Hour).In(time.FixedZone("CEST", 2*3600)).Truncate(time.Second).Add(123456789 * time.Nanosecond)

	for _, tc := range []struct {
		name string
		set  map[string]any
		// pointer is the attribute refused; "" means the token is created.
		pointer string
		// detail is a phrase the refusal must contain.
		detail string
		// want is the attribute value the created token must show, when it
		// differs from what was sent.
		want map[string]any
	}{
		{name: "a one-character description is accepted", set: map[string]any{"description": "x"}},
		{name: "a 255-character description is accepted", set: map[string]any{"description": strings.Repeat("d", 255)}},
		{name: "a description of 255 two-byte characters is accepted", set: map[string]any{"description": strings.Repeat("é", 255)}},
		{name: "a description of 255 emoji is accepted", set: map[string]any{"description": strings.Repeat("🔑", 255)}},
		{name: "a 256-character description is refused", set: map[string]any{"description": strings.Repeat("d", 256)}, pointer: "description", detail: "1 to 255"},
		{name: "a description of 256 two-byte characters is refused", set: map[string]any{"description": strings.Repeat("é", 256)}, pointer: "description", detail: "it has 256"},
		{name: "an empty description is refused", set: map[string]any{"description": ""}, pointer: "description", detail: "1 to 255"},
		{name: "a blank description is refused", set: map[string]any{"description": "   "}, pointer: "description", detail: "blank"},
		{name: "a missing description is refused", set: map[string]any{"description": attrAbsent}, pointer: "description", detail: "required"},
		{name: "a description that is not a string is refused", set: map[string]any{"description": 42}, pointer: "description", detail: "string"},

		{name: "a single known scope is accepted", set: map[string]any{"scope": "customers"}},
		{name: "tokend's own scopes a member holds by default are accepted", set: map[string]any{"scope": "api-tokens api-tokens-write"}},
		{name: "an unknown scope is refused", set: map[string]any{"scope": "customers nope"}, pointer: "scope", detail: `"nope"`},
		{name: "scopes separated by two spaces are refused", set: map[string]any{"scope": "customers  applications"}, pointer: "scope", detail: "single spaces"},
		{name: "a scope with a leading space is refused", set: map[string]any{"scope": " customers"}, pointer: "scope", detail: "single spaces"},
		{name: "a scope with a trailing space is refused", set: map[string]any{"scope": "customers "}, pointer: "scope", detail: "single spaces"},
		{name: "scopes separated by commas are refused", set: map[string]any{"scope": "customers,applications"}, pointer: "scope"},
		{name: "a repeated scope is refused", set: map[string]any{"scope": "customers applications customers"}, pointer: "scope", detail: `repeats "customers"`},
		{name: "an empty scope is refused", set: map[string]any{"scope": ""}, pointer: "scope"},
		{name: "a missing scope is refused", set: map[string]any{"scope": attrAbsent}, pointer: "scope", detail: "required"},

		{name: "an expiration with an offset is stored in UTC to the second", set: map[string]any{"expiration": inBerlin.Format(time.RFC3339Nano)},
			want: map[string]any{"expiration": apiTime(inBerlin.Truncate(time.Second))}},
		{name: "an expiration just under the maximum lifetime ahead is accepted", set: map[string]any{"expiration": fromNow(366*24*time.Hour - time.Minute)}},
		{name: "an expiration past the maximum lifetime is refused", set: map[string]any{"expiration": fromNow(366*24*time.Hour + time.Minute)}, pointer: "expiration", detail: "366 days"},
		{name: "an expiration in the past is refused", set: map[string]any{"expiration": fromNow(-time.Minute)}, pointer: "expiration", detail: "future"},
		{name: "a date without a time is refused", set: map[string]any{"expiration": time.Now().AddDate(0, 1, 0).Format("2006-01-02")}, pointer: "expiration", detail: "RFC 3339"},
		{name: "a time without a zone is refused", set: map[string]any{"expiration": time.Now().AddDate(0, 1, 0).Format("2006-01-02T15:04:05")}, pointer: "expiration", detail: "RFC 3339"},
		{name: "a Unix timestamp is refused", set: map[string]any{"expiration": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}, pointer: "expiration", detail: "RFC 3339"},
		{name: "a missing expiration is refused", set: map[string]any{"expiration": attrAbsent}, pointer: "expiration", detail: "required"},

		{name: "an IPv4 address and a CIDR range are accepted", set: map[string]any{"sourceIp": "192.168.1.1,10.0.0.0/8"}},
		{name: "an IPv6 address and range are accepted", set: map[string]any{"sourceIp": "2001:db8::1,2001:db8:1::/48"}},
		{name: "100 source addresses are accepted", set: map[string]any{"sourceIp": ips(100)}},
		{name: "101 source addresses are refused", set: map[string]any{"sourceIp": ips(101)}, pointer: "sourceIp", detail: "at most 100"},
		{name: "source addresses with a space after the comma are refused", set: map[string]any{"sourceIp": "192.168.1.1, 10.0.0.0/8"}, pointer: "sourceIp", detail: "spaces"},
		{name: "a source address out of range is refused", set: map[string]any{"sourceIp": "192.168.1.1,192.168.1.300"}, pointer: "sourceIp", detail: `"192.168.1.300"`},
		{name: "a CIDR range with too long a prefix is refused", set: map[string]any{"sourceIp": "10.0.0.0/33"}, pointer: "sourceIp", detail: `"10.0.0.0/33"`},
		{name: "a host name as source address is refused", set: map[string]any{"sourceIp": "example.com"}, pointer: "sourceIp"},
		{name: "source addresses with an empty entry are refused", set: map[string]any{"sourceIp": "192.168.1.1,"}, pointer: "sourceIp"},
		{name: "an empty sourceIp is refused", set: map[string]any{"sourceIp": ""}, pointer: "sourceIp"},

		{name: "an account restriction is accepted", set: map[string]any{"resources": []any{resource("account", "1")}}},
		{name: "restrictions of several types are accepted", set: map[string]any{"resources": []any{resource("account", "1", "2"), resource("card", "9"), resource("customer", "c-3")}}},
		{name: "a restriction of an unknown type is refused", set: map[string]any{"resources": []any{resource("bank", "1")}}, pointer: "resources/0/type", detail: "account"},
		{name: "a restriction without ids is refused", set: map[string]any{"resources": []any{resource("account")}}, pointer: "resources/0/ids", detail: "at least one"},
		{name: "a restriction missing its ids is refused", set: map[string]any{"resources": []any{map[string]any{"type": "account"}}}, pointer: "resources/0/ids"},
		{name: "a bad second restriction is pointed at", set: map[string]any{"resources": []any{resource("account", "1"), resource("wallet", "2")}}, pointer: "resources/1/type"},
		{name: "a restriction id with a space is refused", set: map[string]any{"resources": []any{resource("account", "1", "a b")}}, pointer: "resources/0/ids/1"},
		{name: "a restriction with an extra member is refused", set: map[string]any{"resources": []any{map[string]any{"type": "account", "ids": []any{"1"}, "note": "x"}}}, pointer: "resources/0/note"},
		{name: "resources that are not an array are refused", set: map[string]any{"resources": map[string]any{"type": "account"}}, pointer: "resources"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(attrsWith(tc.set))})
			if tc.pointer != "" {
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, attrPointers(tc.pointer)...)
				if !strings.Contains(firstDetail(r), tc.detail) {
					t.Errorf("detail = %q, want it to mention %q", firstDetail(r), tc.detail)
				}
				return
			}
			r.expectStatus(t, http.StatusCreated, "")
			a := r.attrs()
			for k, v := range tc.set {
				want, ok := tc.want[k]
				if !ok {
					want = v
				}
				if got, _ := json.Marshal(a[k]); string(got) != string(mustJSON(t, want)) {
					t.Errorf("%s = %s, want %s", k, got, mustJSON(t, want))
				}
			}
		})
	}
}

// mustJSON encodes v as JSON.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCreateTokenReportsEveryProblemAtOnce checks that a create request
// with several bad attributes gets one error object for each.
func TestCreateTokenReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	before := storedTokens(t, h)
	t.Cleanup(func() {
		if n := storedTokens(t, h); n != before {
			t.Errorf("refused requests changed the number of tokens from %d to %d", before, n)
		}
	})

	for _, tc := range []struct {
		name     string
		attrs    map[string]any
		pointers []string
	}{
		{
			name: "every attribute wrong yields an error for each",
			attrs: map[string]any{
				"description": "", "scope": "customers  nope", "expiration": "tomorrow",
				"sourceIp": "1.2.3.4 ", "resources": []any{map[string]any{"type": "bank", "ids": []any{}}},
			},
			pointers: attrPointers("description", "scope", "expiration", "sourceIp", "resources/0/type", "resources/0/ids"),
		},
		{
			name:     "no attributes yields an error for each required one",
			attrs:    map[string]any{},
			pointers: attrPointers("description", "scope", "expiration"),
		},
		{
			name: "unknown, read-only, mistyped and invalid attributes are all reported",
			attrs: attrsWith(map[string]any{
				"color": "red", "token": "v2.public.x", "description": 7, "scope": "nope",
			}),
			pointers: attrPointers("color", "token", "description", "scope"),
		},
		{
			name: "a mistyped attribute and a missing one are both reported",
			attrs: map[string]any{
				"description": "ok", "scope": []any{"customers"},
			},
			pointers: attrPointers("scope", "expiration"),
		},
		{
			name: "problems in several restrictions are all reported",
			attrs: attrsWith(map[string]any{"resources": []any{
				map[string]any{"type": "bank", "ids": []any{"1"}},
				map[string]any{"type": "card", "ids": []any{}},
				map[string]any{"type": "account", "ids": []any{"ok", "not ok"}},
			}}),
			pointers: attrPointers("resources/0/type", "resources/1/ids", "resources/2/ids/1"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(tc.attrs)})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			expectSources(t, r, tc.pointers...)
			for _, e := range r.errors() {
				if e["code"] != "invalid_value" {
					t.Errorf("error %v, want every one invalid_value", e)
				}
			}
		})
	}
}

// user, without touching that token.
func TestTokenEndpointsNotFound(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		alice, bob := h.user(apitoken.RoleMember), h.user(apitoken.RoleMember)
		aliceTok, _ := mustCreateToken(t, h, alice, validAttrs())
		bobTok, _ := mustCreateToken(t, h, bob, validAttrs())
		bobBefore := getTokenAttrs(t, h, bob, bobTok)

		type endpoint struct {
			method string
			body   func(tokenID string) any
		}
		collection := map[string]endpoint{
			"listing":  {method: "GET"},
			"creating": {method: "POST", body: func(string) any { return createBody(validAttrs()) }},
		}
		one := map[string]endpoint{
			"reading":  {method: "GET"},
			"updating": {method: "PATCH", body: func(id string) any { return updateBody(id, map[string]any{"description": "hijacked"}) }},
			"revoking": {method: "DELETE"},
		}
		send := func(h *harness, e endpoint, path, tokenID string) *response {
			var body any
			if e.body != nil {
				body = e.body(tokenID)
			}
			return h.do(req{method: e.method, path: path, token: h.AdminToken, body: body})
		}

		unknownUser := uuid.NewString()
		for what, e := range collection {
			for user, why := range map[string]string{unknownUser: "an unknown user", "42": "a malformed user id", strings.ToUpper(alice): "an upper-case user id"} {
				t.Run(what+" tokens of "+why+" is not found", func(t *testing.T) {
					send(h.on(t), e, tokensPath(user), "").expectStatus(t, http.StatusNotFound, "not_found")
				})
			}
		}
		for what, e := range one {
			for _, tc := range []struct {
				why, user, token string
			}{
				{"of an unknown user", unknownUser, aliceTok},
				{"of a malformed user id", "42", aliceTok},
				{"with an unknown id", alice, uuid.NewString()},
				{"with a malformed id", alice, "42"},
				{"with an upper-case id", alice, strings.ToUpper(aliceTok)},
				{"of another user, under this user's path", alice, bobTok},
			} {
				t.Run(what+" a token "+tc.why+" is not found", func(t *testing.T) {
					send(h.on(t), e, tokenPath(tc.user, tc.token), tc.token).expectStatus(t, http.StatusNotFound, "not_found")
				})
			}
		}

		if got := getTokenAttrs(t, h, bob, bobTok); !reflect.DeepEqual(got, bobBefore) {
			t.Errorf("requests under another user's path changed the token from %v to %v", bobBefore, got)
		}
		if got := getTokenAttrs(t, h, alice, aliceTok); got["status"] != "active" || got["description"] != "Production token" {
			t.Errorf("requests for an unknown user changed a token: %v", got)
		}
		if n := storedTokens(t, h); n != 3 {
			t.Errorf("the database holds %d tokens, want the bootstrap token, alice's and bob's", n)
		}
	})
}

// TestTokenEndpointsRefuseQueryParameters checks that endpoints taking no
// query parameters refuse them, naming each, and do nothing.
func TestTokenEndpointsRefuseQueryParameters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	id, _ := mustCreateToken(t, h, user, validAttrs())
	for _, tc := range []struct {
		name, method, path string
		body               any
		sources            []string
	}{
		{"creating with a query parameter is refused", "POST", tokensPath(user) + "?dryRun=true", createBody(validAttrs()), []string{"?dryRun"}},
		{"reading with a query parameter is refused", "GET", tokenPath(user, id) + "?include=user", nil, []string{"?include"}},
		{"updating with query parameters is refused, naming each", "PATCH", tokenPath(user, id) + "?a=1&b=2", updateBody(id, map[string]any{"description": "changed"}), []string{"?a", "?b"}},
		{"revoking with a query parameter is refused", "DELETE", tokenPath(user, id) + "?force=true", nil, []string{"?force"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.on(t).do(req{method: tc.method, path: tc.path, token: h.AdminToken, body: tc.body})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			expectSources(t, r, tc.sources...)
		})
	}
	if a := getTokenAttrs(t, h, user, id); a["status"] != "active" || a["description"] != "Production token" {
		t.Errorf("refused requests changed the token: %v", a)
	}
	if n := storedTokens(t, h); n != 2 {
		t.Errorf("the database holds %d tokens, want 2", n)
	}
}
