package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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

// page is a list response's pagination: meta.pagination and the links.
type page struct {
	// offset is -1 on a page by cursor, which has none.
	limit, offset, total int
	links                map[string]any
}

// pageOf returns the pagination of a list response.
func pageOf(t *testing.T, r *response) page {
	t.Helper()
	doc := r.doc()
	meta, _ := doc["meta"].(map[string]any)
	p, ok := meta["pagination"].(map[string]any)
	if !ok {
		t.Fatalf("list has no meta.pagination: %s", r.Body)
	}
	num := func(k string) int {
		if _, ok := p[k]; !ok && k == "offset" {
			return -1
		}
		f, ok := p[k].(float64)
		if !ok {
			t.Fatalf("meta.pagination.%s = %v, want a number", k, p[k])
		}
		return int(f)
	}
	links, _ := doc["links"].(map[string]any)
	return page{limit: num("limit"), offset: num("offset"), total: num("total"), links: links}
}

// linkOffset checks that the named link of a list is an absolute URL of the
// list at path with the page's limit and the kept query parameters, and
// returns its page[offset]. A null link yields -1.
func linkOffset(t *testing.T, h *harness, p page, name, path string, limit int, keep url.Values) int {
	t.Helper()
	v, present := p.links[name]
	if !present {
		t.Fatalf("links.%s missing: %v", name, p.links)
	}
	if v == nil {
		return -1
	}
	u, err := url.Parse(v.(string))
	if err != nil || u.Scheme+"://"+u.Host != h.URL || u.Path != path {
		t.Fatalf("links.%s = %q, want an absolute URL of %s%s", name, v, h.URL, path)
	}
	q := u.Query()
	if q.Get("page[limit]") != strconv.Itoa(limit) {
		t.Fatalf("links.%s = %q, want page[limit]=%d", name, v, limit)
	}
	for k := range keep {
		if q.Get(k) != keep.Get(k) {
			t.Fatalf("links.%s = %q, want %s=%s kept", name, v, k, keep.Get(k))
		}
	}
	if len(q) != 2+len(keep) {
		t.Fatalf("links.%s = %q has parameters beyond page[limit], page[offset] and %v", name, v, keep)
	}
	off, err := strconv.Atoi(q.Get("page[offset]"))
	if err != nil {
		t.Fatalf("links.%s = %q has no page[offset]", name, v)
	}
	return off
}

// linkCursor checks that the page's link is an absolute URL of path with
// page[limit], the parameters in keep and, unless param is "", a cursor
// in param, and returns the cursor.
func linkCursor(t *testing.T, h *harness, p page, name, path string, limit int, keep url.Values, param string) string {
	t.Helper()
	v, _ := p.links[name].(string)
	u, err := url.Parse(v)
	if err != nil || v == "" || u.Scheme+"://"+u.Host != h.URL || u.Path != path {
		t.Fatalf("links.%s = %q, want an absolute URL of %s%s", name, v, h.URL, path)
	}
	q := u.Query()
	want := url.Values{"page[limit]": {strconv.Itoa(limit)}}
	for k, vs := range keep {
		want[k] = vs
	}
	if param != "" {
		if q.Get(param) == "" {
			t.Fatalf("links.%s = %q, want a cursor in %s", name, v, param)
		}
		want[param] = q[param]
	}
	if !reflect.DeepEqual(map[string][]string(q), map[string][]string(want)) {
		t.Fatalf("links.%s = %q, want the parameters %v", name, v, want)
	}
	return q.Get(param)
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

// listFixture is a user's tokens in every status.
type listFixture struct {
	user                                                     string
	active1, active2, disabled, expired, expiredOff, revoked string
}

// newListFixture gives a new member tokens in every status. The expired
// ones were created hours ago, so creation order is expired, expiredOff,
// active1, active2, disabled, revoked.
func newListFixture(t *testing.T, h *harness) listFixture {
	t.Helper()
	f := listFixture{user: h.user(apitoken.RoleMember)}
	now := time.Now().UTC()
	past := func(created time.Duration) verifier.Claims {
		at := now.Add(-created).Truncate(time.Millisecond)
		return verifier.Claims{ID: uuid.Must(uuid.NewV7()).String(), IssuedAt: at, NotBefore: at, Expiration: now.Add(-time.Hour).Truncate(time.Millisecond)}
	}
	expired, expiredOff := past(3*time.Hour), past(2*time.Hour)
	h.forge(f.user, expired, nil)
	h.forge(f.user, expiredOff, func(t *apitoken.Token) { t.Enabled = false })
	f.expired, f.expiredOff = expired.ID, expiredOff.ID
	f.active1, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.active2, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.disabled, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.revoked, _ = mustCreateToken(t, h, f.user, validAttrs())
	mustPatchToken(t, h, f.user, f.disabled, map[string]any{"enabled": false})
	h.do(req{method: "DELETE", path: tokenPath(f.user, f.revoked), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
	return f
}

// TestListTokensFiltersByStatus checks that a user's list leaves revoked
// tokens out unless filter[status] asks for them, that filter[status]
// selects exactly the statuses it lists, and that no list shows a token
// string.
func TestListTokensFiltersByStatus(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		f := newListFixture(t, h)
		status := map[string]string{
			f.active1: "active", f.active2: "active", f.disabled: "disabled",
			f.expired: "expired", f.expiredOff: "expired", f.revoked: "revoked",
		}
		for _, tc := range []struct {
			name, filter string
			want         []string
		}{
			{"no filter lists every token but the revoked one", "", []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled}},
			{"filter[status]=revoked lists only the revoked token", "revoked", []string{f.revoked}},
			{"filter[status]=active lists only active tokens", "active", []string{f.active1, f.active2}},
			{"filter[status]=disabled lists the disabled token but not the expired disabled one", "disabled", []string{f.disabled}},
			{"filter[status]=expired lists expired tokens, disabled or not", "expired", []string{f.expired, f.expiredOff}},
			{"filter[status]=active,disabled lists both", "active,disabled", []string{f.active1, f.active2, f.disabled}},
			{"filter[status]=revoked,active lists both", "revoked,active", []string{f.active1, f.active2, f.revoked}},
			{"filter[status]=expired,revoked lists both", "expired,revoked", []string{f.expired, f.expiredOff, f.revoked}},
			{"every status lists every token", "active,expired,disabled,revoked", []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled, f.revoked}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				path := tokensPath(f.user)
				if tc.filter != "" {
					path += "?filter[status]=" + tc.filter
				}
				r := h.do(req{method: "GET", path: path, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				if p := pageOf(t, r); p.total != len(tc.want) {
					t.Errorf("meta.pagination.total = %d, want %d", p.total, len(tc.want))
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				for _, d := range r.list() {
					a := d["attributes"].(map[string]any)
					if _, leaked := a["token"]; leaked {
						t.Errorf("token %s shows its token string in the list", d["id"])
					}
					if a["status"] != status[d["id"].(string)] {
						t.Errorf("token %s has status %v, want %s", d["id"], a["status"], status[d["id"].(string)])
					}
					if (a["status"] == "revoked") != (a["revokedAt"] != nil) {
						t.Errorf("token %s has status %v and revokedAt %v", d["id"], a["status"], a["revokedAt"])
					}
				}
			})
		}

		for _, bad := range []string{"gone", "", "active,", "Active", "active;revoked"} {
			t.Run(fmt.Sprintf("filter[status]=%q is refused", bad), func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				r := h.do(req{method: "GET", path: tokensPath(f.user) + "?filter[status]=" + url.QueryEscape(bad), token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, "?filter[status]")
			})
		}
	})
}

// TestListTokensSorts checks that lists are in creation order by default and
// with sort=createdAt, newest first with sort=-createdAt, and that other
// sorts are refused.
func TestListTokensSorts(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		f := newListFixture(t, h)
		oldest := []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled, f.revoked}
		newest := slices.Clone(oldest)
		slices.Reverse(newest)
		all := "filter[status]=active,expired,disabled,revoked"

		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"no sort lists the oldest first", all, oldest},
			{"sort=createdAt lists the oldest first", all + "&sort=createdAt", oldest},
			{"sort=-createdAt lists the newest first", all + "&sort=-createdAt", newest},
			{"sort=-createdAt pages from the newest", all + "&sort=-createdAt&page[limit]=2&page[offset]=2", newest[2:4]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := h.on(t).do(req{method: "GET", path: tokensPath(f.user) + "?" + tc.query, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				var times []string
				for _, d := range r.list() {
					times = append(times, d["attributes"].(map[string]any)["createdAt"].(string))
				}
				if strings.Contains(tc.query, "-createdAt") {
					slices.Reverse(times)
				}
				if !slices.IsSorted(times) {
					t.Errorf("createdAt values %v are not in the order asked for", times)
				}
			})
		}
		for _, bad := range []string{"description", "createdAt,-createdAt", "+createdAt", "created_at"} {
			t.Run(fmt.Sprintf("sort=%q is refused", bad), func(t *testing.T) {
				r := h.on(t).do(req{method: "GET", path: tokensPath(f.user) + "?sort=" + url.QueryEscape(bad), token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, "?sort")
			})
		}
	})
}

// TestListTokensPaginates checks page[limit] and page[offset], the
// pagination meta and the links between pages, and the refusal of bad,
// repeated and unknown query parameters.
func TestListTokensPaginates(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		// 101 tokens, one more than a default page, created a millisecond
		// apart in id order.
		start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		ids := make([]string, 101)
		for i := range ids {
			at := start.Add(time.Duration(i) * time.Millisecond)
			c := verifier.Claims{ID: uuid.Must(uuid.NewV7()).String(), IssuedAt: at, NotBefore: at, Expiration: at.Add(48 * time.Hour)}
			h.forge(user, c, nil)
			ids[i] = c.ID
		}
		newest := slices.Clone(ids)
		slices.Reverse(newest)
		path := tokensPath(user)

		for _, tc := range []struct {
			name, query            string
			keep                   url.Values
			limit, offset          int
			want                   []string
			prev, next, last       int // page offsets; -1 for a null link
			followNext, followPrev bool
			// cursorNext: links.next is a cursor (page[after]), not an offset.
			cursorNext bool
		}{
			{name: "no parameters give the first 100 tokens", limit: 100, want: ids[:100], prev: -1, next: 100, last: 100, followNext: true, cursorNext: true},
			{name: "page[limit]=40 gives the first 40", query: "page[limit]=40", limit: 40, want: ids[:40], prev: -1, next: 40, last: 80, followNext: true, cursorNext: true},
			{name: "the second page links back to the first", query: "page[limit]=40&page[offset]=40", limit: 40, offset: 40, want: ids[40:80], prev: 0, next: 80, last: 80, followNext: true, followPrev: true},
			{name: "the last page is short and has no next", query: "page[limit]=40&page[offset]=80", limit: 40, offset: 80, want: ids[80:], prev: 40, next: -1, last: 80, followPrev: true},
			{name: "an offset between pages links back to the start", query: "page[limit]=40&page[offset]=30", limit: 40, offset: 30, want: ids[30:70], prev: 0, next: 70, last: 80},
			{name: "page[limit]=1000 gives every token on one page", query: "page[limit]=1000", limit: 1000, want: ids, prev: -1, next: -1, last: 0},
			{name: "page[limit]=1 gives one token", query: "page[limit]=1&page[offset]=100", limit: 1, offset: 100, want: ids[100:], prev: 99, next: -1, last: 100},
			{name: "an offset past the end gives an empty page", query: "page[offset]=200", limit: 100, offset: 200, want: []string{}, prev: 100, next: -1, last: 100},
			{name: "links keep the sort", query: "sort=-createdAt&page[limit]=50", keep: url.Values{"sort": {"-createdAt"}}, limit: 50, want: newest[:50], prev: -1, next: 50, last: 100, followNext: true, cursorNext: true},
			{name: "links keep the status filter", query: "filter[status]=active&page[limit]=50&page[offset]=50", keep: url.Values{"filter[status]": {"active"}}, limit: 50, offset: 50, want: ids[50:100], prev: 0, next: 100, last: 100, followNext: true, followPrev: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				q := path
				if tc.query != "" {
					q += "?" + tc.query
				}
				r := h.do(req{method: "GET", path: q, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				p := pageOf(t, r)
				if p.limit != tc.limit || p.offset != tc.offset || p.total != len(ids) {
					t.Errorf("meta.pagination = {limit %d offset %d total %d}, want {%d %d %d}", p.limit, p.offset, p.total, tc.limit, tc.offset, len(ids))
				}
				for _, l := range []struct {
					name string
					want int
				}{{"self", tc.offset}, {"first", 0}, {"prev", tc.prev}, {"next", tc.next}, {"last", tc.last}} {
					switch {
					case l.name == "next" && tc.cursorNext:
						linkCursor(t, h, p, l.name, path, tc.limit, tc.keep, "page[after]")
						continue
					}
					if got := linkOffset(t, h, p, l.name, path, tc.limit, tc.keep); got != l.want {
						t.Errorf("links.%s has page[offset] %d, want %d (-1: null)", l.name, got, l.want)
					}
				}
				follow := func(name string, want []string) {
					u, _ := url.Parse(p.links[name].(string))
					r := h.do(req{method: "GET", path: u.RequestURI(), token: h.AdminToken})
					r.expectStatus(t, http.StatusOK, "")
					if got := idsOf(r); !slices.Equal(got, want) {
						t.Errorf("following links.%s gives %v, want %v", name, got, want)
					}
				}
				order := ids
				if tc.keep.Get("sort") == "-createdAt" {
					order = newest
				}
				if tc.followNext {
					follow("next", order[tc.next:min(tc.next+tc.limit, len(order))])
				}
				if tc.followPrev {
					follow("prev", order[tc.prev:tc.prev+tc.limit])
				}
			})
		}

		for _, tc := range []struct {
			name, query string
			sources     []string
		}{
			{"page[limit]=0 is refused", "page[limit]=0", []string{"?page[limit]"}},
			{"page[limit]=1001 is refused", "page[limit]=1001", []string{"?page[limit]"}},
			{"page[limit]=-1 is refused", "page[limit]=-1", []string{"?page[limit]"}},
			{"page[limit]=x is refused", "page[limit]=x", []string{"?page[limit]"}},
			{"an empty page[limit] is refused", "page[limit]=", []string{"?page[limit]"}},
			{"page[offset]=-1 is refused", "page[offset]=-1", []string{"?page[offset]"}},
			{"page[offset]=x is refused", "page[offset]=x", []string{"?page[offset]"}},
			{"page[limit] given twice is refused", "page[limit]=10&page[limit]=20", []string{"?page[limit]"}},
			{"filter[status] given twice is refused", "filter[status]=active&filter[status]=revoked", []string{"?filter[status]"}},
			{"an unknown parameter is refused", "pagesize=10", []string{"?pagesize"}},
			{"page[size] is not Unit's convention and is refused", "page[size]=10", []string{"?page[size]"}},
			{"filter[userId] is refused on a user's list", "filter[userId]=" + user, []string{"?filter[userId]"}},
			{"a token in the query string is refused as a parameter", "access_token=x", []string{"?access_token"}},
			{"every bad parameter is reported at once", "page[limit]=0&page[offset]=x&color=red", []string{"?color", "?page[limit]", "?page[offset]"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				r := h.do(req{method: "GET", path: path + "?" + tc.query, token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, tc.sources...)
			})
		}
	})
}

// TestListTokensOfAUserWithoutTokens checks the empty list: no data, a
// total of 0 and no previous or next page.
func TestListTokensOfAUserWithoutTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	r := h.do(req{method: "GET", path: tokensPath(user), token: h.AdminToken})
	r.expectStatus(t, http.StatusOK, "")
	if data, ok := r.doc()["data"].([]any); !ok || len(data) != 0 {
		t.Fatalf("data = %v, want an empty array", r.doc()["data"])
	}
	p := pageOf(t, r)
	if p.total != 0 || p.limit != 100 || p.offset != 0 {
		t.Errorf("meta.pagination = %+v, want total 0, limit 100, offset 0", p)
	}
	for name, want := range map[string]int{"self": 0, "first": 0, "last": 0, "prev": -1, "next": -1} {
		if got := linkOffset(t, h, p, name, tokensPath(user), 100, nil); got != want {
			t.Errorf("links.%s has page[offset] %d, want %d (-1: null)", name, got, want)
		}
	}
}

// TestGetTokenInAnyStatus checks that one token can be read whatever its
// status, revoked included, and never with its token string.
func TestGetTokenInAnyStatus(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		f := newListFixture(t, h)
		for _, tc := range []struct{ name, id, status string }{
			{"an active token is read", f.active1, "active"},
			{"a disabled token is read", f.disabled, "disabled"},
			{"an expired token is read", f.expired, "expired"},
			{"an expired, disabled token is read as expired", f.expiredOff, "expired"},
			{"a revoked token is read", f.revoked, "revoked"},
		} {
			id, status := tc.id, tc.status
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: tokenPath(f.user, id), token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if r.data()["id"] != id || r.attrs()["status"] != status {
					t.Fatalf("read %v with status %v, want %s with %s", r.data()["id"], r.attrs()["status"], id, status)
				}
				if _, leaked := r.attrs()["token"]; leaked {
					t.Error("reading a token shows its token string")
				}
				if links, _ := r.doc()["links"].(map[string]any); links["self"] != h.URL+tokenPath(f.user, id) {
					t.Errorf("links.self = %v", links["self"])
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
			})
		}
	})
}

// TestUpdateToken checks PATCH: the description, enabled and an earlier
// expiration change and take effect; anything else is refused.
func TestUpdateToken(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		own := func(t *testing.T) (string, string) {
			return mustCreateToken(t, h, user, attrsWith(map[string]any{"scope": "api-tokens"}))
		}
		listWith := func(h *harness, raw string) *response {
			return h.do(req{method: "GET", path: tokensPath(user), token: raw})
		}

		t.Run("a new description is saved and nothing else changes", func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			id, _ := own(t)
			before := getTokenAttrs(t, h, user, id)
			a := mustPatchToken(t, h, user, id, map[string]any{"description": "Renamed ✓"})
			if a["description"] != "Renamed ✓" {
				t.Fatalf("description = %v, want the new one", a["description"])
			}
			after := getTokenAttrs(t, h, user, id)
			before["description"] = "Renamed ✓"
			if !reflect.DeepEqual(after, before) {
				t.Errorf("after the update the token reads %v, want %v", after, before)
			}
		})

		t.Run("a disabled token is refused until it is enabled again", func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			id, raw := own(t)
			listWith(h, raw).expectStatus(t, http.StatusOK, "")

			a := mustPatchToken(t, h, user, id, map[string]any{"enabled": false})
			if a["enabled"] != false || a["status"] != "disabled" {
				t.Fatalf("after enabled=false: enabled %v, status %v", a["enabled"], a["status"])
			}
			r := listWith(h, raw)
			r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
			if !strings.Contains(firstDetail(r), "disabled") {
				t.Errorf("detail = %q, want it to say the token is disabled", firstDetail(r))
			}

			a = mustPatchToken(t, h, user, id, map[string]any{"enabled": true})
			if a["enabled"] != true || a["status"] != "active" {
				t.Fatalf("after enabled=true: enabled %v, status %v", a["enabled"], a["status"])
			}
			listWith(h, raw).expectStatus(t, http.StatusOK, "")
		})

		t.Run("an expiration can move earlier, and the new one is enforced", func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			id, raw := own(t)
			current := getTokenAttrs(t, h, user, id)["expiration"]

			r := h.do(req{method: "PATCH", path: tokenPath(user, id), token: h.AdminToken,
				body: updateBody(id, map[string]any{"expiration": fromNow(60 * 24 * time.Hour)})})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			expectSources(t, r, attrPointers("expiration")...)
			if got := getTokenAttrs(t, h, user, id)["expiration"]; got != current {
				t.Fatalf("a refused later expiration changed it from %v to %v", current, got)
			}

			// Expirations are whole seconds: 1.5 s ahead, cut to the
			// second, is still ahead.
			exp := h.Clock.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Second)
			if a := mustPatchToken(t, h, user, id, map[string]any{"expiration": apiTime(exp)}); a["expiration"] != apiTime(exp) || a["status"] != "active" {
				t.Fatalf("after moving the expiration earlier: expiration %v, status %v, want %s and active", a["expiration"], a["status"], apiTime(exp))
			}
			// The token works until then, and not from then on.
			if r := listWith(h, raw); r.StatusCode != http.StatusOK {
				t.Fatalf("before its new expiration the token got %d\n%s", r.StatusCode, r.Body)
			}
			h.Clock.Advance(2 * time.Second)
			r = listWith(h, raw)
			r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
			if !strings.Contains(firstDetail(r), "expired") {
				t.Errorf("detail = %q, want it to say the token has expired", firstDetail(r))
			}
			if a := getTokenAttrs(t, h, user, id); a["status"] != "expired" {
				t.Errorf("status = %v, want expired", a["status"])
			}
		})

		id, _ := own(t)
		for _, tc := range []struct {
			name    string
			attrs   map[string]any
			sources []string
		}{
			{"a later expiration is refused", map[string]any{"expiration": fromNow(60 * 24 * time.Hour)}, attrPointers("expiration")},
			{"an expiration in the past is refused", map[string]any{"expiration": fromNow(-time.Second)}, attrPointers("expiration")},
			{"an expiration that is not RFC 3339 is refused", map[string]any{"expiration": "next week"}, attrPointers("expiration")},
			{"an empty description is refused", map[string]any{"description": ""}, attrPointers("description")},
			{"a 256-character description is refused", map[string]any{"description": strings.Repeat("x", 256)}, attrPointers("description")},
			{"enabled as a string is refused", map[string]any{"enabled": "false"}, attrPointers("enabled")},
			{"the scope is read-only", map[string]any{"scope": "customers"}, attrPointers("scope")},
			{"the token string is read-only", map[string]any{"token": "v2.public.x"}, attrPointers("token")},
			{"the status is read-only", map[string]any{"status": "revoked"}, attrPointers("status")},
			{"the source addresses are read-only", map[string]any{"sourceIp": "10.0.0.1"}, attrPointers("sourceIp")},
			{"the resource restrictions are read-only", map[string]any{"resources": []any{}}, attrPointers("resources")},
			{"createdAt is read-only", map[string]any{"createdAt": fromNow(0)}, attrPointers("createdAt")},
			{"revokedAt is read-only", map[string]any{"revokedAt": fromNow(0)}, attrPointers("revokedAt")},
			{"an unknown attribute is refused", map[string]any{"name": "x"}, attrPointers("name")},
			{"every problem is reported at once", map[string]any{"description": "", "enabled": "no", "expiration": "soon", "scope": "customers"},
				attrPointers("description", "enabled", "expiration", "scope")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				before := getTokenAttrs(t, h, user, id)
				r := h.do(req{method: "PATCH", path: tokenPath(user, id), token: h.AdminToken, body: updateBody(id, tc.attrs)})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, tc.sources...)
				if after := getTokenAttrs(t, h, user, id); !reflect.DeepEqual(after, before) {
					t.Errorf("a refused update changed the token from %v to %v", before, after)
				}
			})
		}

		t.Run("an id that does not match the path conflicts", func(t *testing.T) {
			h := h.on(t)
			other, _ := own(t)
			r := h.do(req{method: "PATCH", path: tokenPath(user, id), token: h.AdminToken, body: updateBody(other, map[string]any{"description": "x"})})
			r.expectStatus(t, http.StatusConflict, "conflict")
			expectSources(t, r, "/data/id")
		})

		t.Run("a missing id is refused", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "PATCH", path: tokenPath(user, id), token: h.AdminToken, body: createBody(map[string]any{"description": "x"})})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			expectSources(t, r, "/data/id")
		})

		t.Run("a revoked token cannot change", func(t *testing.T) {
			h := h.on(t)
			revoked, _ := own(t)
			h.do(req{method: "DELETE", path: tokenPath(user, revoked), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
			for _, attrs := range []map[string]any{{"description": "again"}, {"enabled": true}, {"enabled": false}} {
				r := h.do(req{method: "PATCH", path: tokenPath(user, revoked), token: h.AdminToken, body: updateBody(revoked, attrs)})
				r.expectStatus(t, http.StatusConflict, "conflict")
			}
			if a := getTokenAttrs(t, h, user, revoked); a["status"] != "revoked" || a["description"] != "Production token" {
				t.Errorf("the revoked token now reads status %v, description %v", a["status"], a["description"])
			}
		})
	})
}

// TestRevokeToken checks DELETE: it answers with the revoked token, is
// idempotent, and the token is refused from then on.
func TestRevokeToken(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		id, raw := mustCreateToken(t, h, user, attrsWith(map[string]any{"scope": "api-tokens"}))
		h.do(req{method: "GET", path: tokensPath(user), token: raw}).expectStatus(t, http.StatusOK, "")

		before := time.Now().Add(-time.Second)
		r := h.do(req{method: "DELETE", path: tokenPath(user, id), token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
		a := r.attrs()
		revokedAt, _ := a["revokedAt"].(string)
		if r.data()["id"] != id || a["status"] != "revoked" || !apiTimePattern.MatchString(revokedAt) {
			t.Fatalf("revoke answered id %v, status %v, revokedAt %v", r.data()["id"], a["status"], a["revokedAt"])
		}
		if at, _ := time.Parse(time.RFC3339, revokedAt); at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("revokedAt = %s, want the time of the request", revokedAt)
		}
		if _, leaked := a["token"]; leaked {
			t.Error("the revoke response shows the token string")
		}

		again := h.do(req{method: "DELETE", path: tokenPath(user, id), token: h.AdminToken})
		again.expectStatus(t, http.StatusOK, "")
		if again.attrs()["status"] != "revoked" || again.attrs()["revokedAt"] != revokedAt {
			t.Errorf("revoking again answered status %v, revokedAt %v, want revoked at %s", again.attrs()["status"], again.attrs()["revokedAt"], revokedAt)
		}

		refused := h.do(req{method: "GET", path: tokensPath(user), token: raw})
		refused.expectStatus(t, http.StatusUnauthorized, "unauthorized")
		if !strings.Contains(firstDetail(refused), "revoked") {
			t.Errorf("detail = %q, want it to say the token is revoked", firstDetail(refused))
		}
		if got := getTokenAttrs(t, h, user, id); got["revokedAt"] != revokedAt || got["status"] != "revoked" {
			t.Errorf("the token reads back status %v, revokedAt %v", got["status"], got["revokedAt"])
		}

		// Disabled and expired tokens can be revoked too.
		f := newListFixture(t, h)
		for _, tid := range []string{f.disabled, f.expired} {
			r := h.do(req{method: "DELETE", path: tokenPath(f.user, tid), token: h.AdminToken})
			r.expectStatus(t, http.StatusOK, "")
			if r.attrs()["status"] != "revoked" || r.attrs()["revokedAt"] == nil {
				t.Errorf("revoking %s answered status %v, revokedAt %v", tid, r.attrs()["status"], r.attrs()["revokedAt"])
			}
		}
	})
}

// TestListAllTokens checks GET /api-tokens: admins see every user's tokens
// and can narrow them with filter[userId]; members are forbidden.
func TestListAllTokens(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		alice, bob := h.user(apitoken.RoleMember), h.user(apitoken.RoleMember)
		a1, aliceToken := mustCreateToken(t, h, alice, attrsWith(map[string]any{"scope": "api-tokens"}))
		a2, _ := mustCreateToken(t, h, alice, validAttrs())
		b1, _ := mustCreateToken(t, h, bob, validAttrs())
		h.do(req{method: "DELETE", path: tokenPath(alice, a2), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		adminToken, adminTokenID := h.mint(h.AdminID, tokenSpec{scope: "api-tokens"})
		owner := map[string]string{a1: alice, a2: alice, b1: bob}

		t.Run("an admin lists every user's tokens", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/api-tokens?filter[status]=active,revoked", token: adminToken})
			r.expectStatus(t, http.StatusOK, "")
			got := idsOf(r)
			for _, id := range []string{a1, a2, b1, adminTokenID} {
				if !slices.Contains(got, id) {
					t.Errorf("token %s missing from %v", id, got)
				}
			}
			// Those and the bootstrap token.
			if len(got) != 5 || pageOf(t, r).total != 5 {
				t.Errorf("listed %d tokens (total %d), want 5", len(got), pageOf(t, r).total)
			}
			for _, d := range r.list() {
				id := d["id"].(string)
				user := d["relationships"].(map[string]any)["user"].(map[string]any)["data"].(map[string]any)["id"]
				if want, ok := owner[id]; ok && user != want {
					t.Errorf("token %s belongs to %v, want %s", id, user, want)
				}
				if _, leaked := d["attributes"].(map[string]any)["token"]; leaked {
					t.Errorf("token %s shows its token string", id)
				}
			}
		})

		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"revoked tokens are left out by default", "filter[userId]=" + alice, []string{a1}},
			{"filter[userId] with filter[status] narrows both ways", "filter[userId]=" + alice + "&filter[status]=revoked", []string{a2}},
			{"filter[userId] lists only that user's tokens", "filter[userId]=" + bob, []string{b1}},
			{"filter[userId] of an unknown user lists nothing", "filter[userId]=" + uuid.NewString(), []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: "/api-tokens?" + tc.query, token: adminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				p := pageOf(t, r)
				if p.total != len(tc.want) {
					t.Errorf("total = %d, want %d", p.total, len(tc.want))
				}
				keep, _ := url.ParseQuery(tc.query)
				linkOffset(t, h, p, "self", "/api-tokens", 100, keep)
			})
		}

		for _, bad := range []string{"filter[userId]=nope", "filter[userId]=" + alice + "&filter[userId]=" + bob, "filter[user]=" + alice} {
			t.Run(bad+" is refused", func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: "/api-tokens?" + bad, token: adminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				name, _, _ := strings.Cut(bad, "=")
				expectSources(t, r, "?"+name)
			})
		}

		t.Run("a member is forbidden", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/api-tokens", token: aliceToken})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
			h.do(req{method: "GET", path: tokensPath(alice), token: aliceToken}).expectStatus(t, http.StatusOK, "")
		})

		t.Run("an admin token without the api-tokens scope is forbidden", func(t *testing.T) {
			h := h.on(t)
			_, raw := mustCreateToken(t, h, h.AdminID, attrsWith(map[string]any{"scope": "customers api-tokens-write"}))
			r := h.do(req{method: "GET", path: "/api-tokens", token: raw})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
		})
	})
}

// TestTokenEndpointsNotFound checks that every token endpoint answers 404
// for an unknown or malformed user or token id, and for a token of another
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
