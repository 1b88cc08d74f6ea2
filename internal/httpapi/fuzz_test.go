package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// The fuzz targets of the HTTP API drive one real server (SQLite) with
// what a client may send: request documents, query strings, forms. Every
// answer goes through the harness's checks (the JSON:API schema and the
// OpenAPI description); beyond those, a refused request changes nothing,
// and nothing is answered with a server error. scripts/fuzz.sh runs them.

// fuzzHarness starts the server the fuzz targets share, with no rate
// limit: the fuzzer sends thousands of requests from one address.
func fuzzHarness(f *testing.F) *harness {
	return newHarness(f, options{env: map[string]string{
		"TOKEND_RATE_TOKEN_CREATES":  "off",
		"TOKEND_RATE_AUTH_FAILURES":  "off",
		"TOKEND_RATE_REVOCATIONS":    "off",
		"TOKEND_MAX_TOKENS_PER_USER": "1000000",
	}})
}

// noServerError fails the test for a 5xx answer.
func noServerError(t *testing.T, r *response, what string) {
	t.Helper()
	if r.StatusCode >= 500 {
		t.Fatalf("%s: %d %s", what, r.StatusCode, r.Body)
	}
}

// FuzzCreateTokenDocument posts fuzzed documents to a user's token
// collection: a 201 adds exactly one token, anything else adds none and
// says why in an error object.
func FuzzCreateTokenDocument(f *testing.F) {
	h := fuzzHarness(f)
	user := h.user(apitoken.RoleMember)
	valid := func(attrs map[string]any) []byte {
		b, _ := json.Marshal(createBody(attrs))
		return b
	}
	f.Add(valid(validAttrs()))
	f.Add(valid(attrsWith(map[string]any{"sourceIp": "10.0.0.0/8,::1", "resources": []map[string]any{{"type": "account", "ids": []string{"1"}}}})))
	f.Add(valid(attrsWith(map[string]any{"unknown": 1})))
	f.Add(valid(attrsWith(map[string]any{"expiration": "2027-07-01T1:47:17Z"})))
	f.Add([]byte(`{"data":{"type":"apiToken","id":"x","attributes":{}}}`))
	f.Add([]byte(`{"data":{"type":"apiToken","attributes":{"description":"a","description":"b"}}}`))
	f.Add([]byte(`{"data":{"type":"user","attributes":{}}}`))
	f.Add([]byte(`{"data":[],"meta":{}}`))
	f.Add([]byte("{\"data\":{\"type\":\"apiToken\",\"attributes\":{\"description\":\"\xff\"}}}"))
	f.Add([]byte(`[1e999999,{"a":`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := h.on(t)
		before := countTokens(t, h, user)
		r := h.do(req{method: http.MethodPost, path: tokensPath(user), token: h.AdminToken, body: body})
		noServerError(t, r, "create")
		after := countTokens(t, h, user)
		switch {
		case r.StatusCode == http.StatusCreated:
			if after != before+1 {
				t.Fatalf("a 201 took the user's tokens from %d to %d", before, after)
			}
		case after != before:
			t.Fatalf("a %d took the user's tokens from %d to %d", r.StatusCode, before, after)
		case len(r.errors()) == 0:
			t.Fatalf("a %d without error objects: %s", r.StatusCode, r.Body)
		}
	})
}

// FuzzListQuery sends fuzzed query strings to a token list: each is a list
// (200) or refused with 400 naming the parameter at fault, unless the
// query string is malformed as a whole.
func FuzzListQuery(f *testing.F) {
	h := fuzzHarness(f)
	user := h.user(apitoken.RoleMember)
	for range 3 {
		h.mint(user, tokenSpec{scope: "customers", expiration: time.Now().Add(time.Hour)})
	}
	for _, q := range []string{
		"page[limit]=2", "page[limit]=2&page[offset]=1", "page[after]=x", "page[limit]=0", "page[limit]=1001",
		"sort=-createdAt", "sort=createdAt,-createdAt", "filter[status]=active,revoked", "filter[status]=",
		"page[offset]=-1", "page[offset]=99999999999999999999", "page[after]=a&page[offset]=1",
		"unknown=1", "filter[status]=active&filter[status]=revoked", "page%5Blimit%5D=1", "page[limit]=1e3",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		path := tokensPath(user) + "?" + query
		if _, err := url.Parse(h.URL + path); err != nil || strings.ContainsAny(query, "# ") {
			return // not a request line a client can send
		}
		r := h.on(t).do(req{method: http.MethodGet, path: path, token: h.AdminToken})
		noServerError(t, r, "list")
		switch r.StatusCode {
		case http.StatusOK:
		case http.StatusBadRequest:
			if values, err := url.ParseQuery(query); err != nil || values.Has("") {
				return // malformed as a whole, or a parameter without a name
			}
			for _, e := range r.errors() {
				if e["source"] == nil {
					t.Fatalf("a 400 for %q does not name the parameter at fault: %s", query, r.Body)
				}
			}
		default:
			t.Fatalf("GET ?%s: %d %s", query, r.StatusCode, r.Body)
		}
	})
}

// FuzzVerificationForms sends fuzzed forms to POST /introspect and POST
// /revoke: only a form that names a live token exactly makes introspection
// answer active or revokes that token; any other form leaves every token
// as it was.
func FuzzVerificationForms(f *testing.F) {
	h := fuzzHarness(f)
	user := h.user(apitoken.RoleMember)
	live := map[string]bool{}
	var seeds []string
	for range 2 {
		tok, _ := h.mint(user, tokenSpec{scope: "customers", expiration: time.Now().Add(time.Hour)})
		live[tok] = true
		seeds = append(seeds, tok)
	}
	for _, s := range []string{
		"token=" + seeds[0], "token=" + seeds[1] + "&client_ip=10.0.0.1", "token=" + seeds[0][:len(seeds[0])-1],
		"token=v2.local.x", "token=", "client_ip=nope", "token=a&token=b", "token=%zz", strings.Repeat("a=1&", 50),
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, form string, revoke bool) {
		h := h.on(t)
		path := "/introspect"
		if revoke {
			path = "/revoke"
		}
		r := h.do(req{method: http.MethodPost, path: path, token: h.AdminToken, body: form, contentType: "application/x-www-form-urlencoded"})
		noServerError(t, r, path)
		values, _ := url.ParseQuery(form)
		named := values.Get("token")
		if !revoke && r.StatusCode == http.StatusOK {
			var answer struct{ Active bool }
			if err := json.Unmarshal(r.Body, &answer); err != nil {
				t.Fatal(err)
			}
			if answer.Active && !live[named] {
				t.Fatalf("introspection of %q answered active", form)
			}
		}
		for tok, ok := range live {
			if !ok {
				continue
			}
			if status := h.introspectionOf(t, tok); !status && tok != named {
				t.Fatalf("%s of %q took token %s… out of service", path, form, tok[:20])
			} else if !status {
				live[tok] = false // revoked by name, as it may be
			}
		}
	})
}

// introspectionOf reports whether introspection says the token is active.
func (h *harness) introspectionOf(t *testing.T, token string) bool {
	t.Helper()
	r := h.do(req{method: http.MethodPost, path: "/introspect", token: h.AdminToken,
		body: url.Values{"token": {token}}.Encode(), contentType: "application/x-www-form-urlencoded"})
	var answer struct{ Active bool }
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.Body, &answer) != nil {
		t.Fatalf("introspection: %d %s", r.StatusCode, r.Body)
	}
	return answer.Active
}
