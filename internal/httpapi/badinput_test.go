package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/jsonapitest"
)

// storedTokens returns how many tokens the database holds, of every user
// and in every status.
func storedTokens(t testing.TB, h *harness) int64 {
	t.Helper()
	page, err := h.Store.Tokens.List(context.Background(), apitoken.TokenFilter{
		Statuses: apitoken.Statuses, Now: time.Now(), Limit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

// storedToken returns a token's metadata as the database holds it.
func storedToken(t testing.TB, h *harness, userID, id string) apitoken.Token {
	t.Helper()
	tok, err := h.Store.Tokens.Get(context.Background(), userID, id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// snakeCase matches error codes such as invalid_value.
var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// checkErrorDocument checks every error object of an error response: its
// status is the response's as a string, its code snake_case, it has a title
// and a detail, and it has a source exactly when one is expected; source
// is a pointer, "?" and a parameter, or "" for none.
func checkErrorDocument(t *testing.T, r *response, source string) {
	t.Helper()
	errs := r.errors()
	if len(errs) == 0 {
		t.Fatalf("no error objects: %s", r.Body)
	}
	for _, e := range errs {
		if e["status"] != strconv.Itoa(r.StatusCode) {
			t.Errorf("error status = %#v, want the string %q", e["status"], strconv.Itoa(r.StatusCode))
		}
		if code, _ := e["code"].(string); !snakeCase.MatchString(code) {
			t.Errorf("error code = %#v, want snake_case", e["code"])
		}
		for _, k := range []string{"title", "detail"} {
			if s, _ := e[k].(string); s == "" {
				t.Errorf("error %s = %#v, want text", k, e[k])
			}
		}
	}
	got := errorSources(r)
	if source == "" {
		for _, e := range errs {
			if src, ok := e["source"]; ok {
				t.Errorf("error has source %v, want none", src)
			}
		}
	} else if !slices.Contains(got, source) {
		t.Errorf("error sources = %q, want %q among them", got, source)
	}
}

// sendRaw sends a request built by the caller, for bodies do cannot send:
// chunked, or without a Content-Type. JSON:API responses are checked
// against the schema as do checks them.
func (h *harness) sendRaw(t *testing.T, hr *http.Request) *response {
	t.Helper()
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.api+json" {
		t.Fatalf("%s %s: Content-Type = %q, want application/vnd.api+json", hr.Method, hr.URL.Path, ct)
	}
	jsonapitest.Validate(t, b)
	return &response{Response: resp, Body: b}
}

// chunked returns a request whose body is sent without a Content-Length.
func chunked(t *testing.T, h *harness, method, path string, body []byte) *http.Request {
	t.Helper()
	// A reader of unknown length makes the client send the body chunked.
	hr, err := http.NewRequest(method, h.URL+path, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/vnd.api+json")
	hr.Header.Set("Authorization", "Bearer "+h.AdminToken)
	return hr
}

// TestBadInputChangesNothing walks SPEC's bad-input table for the create
// and update endpoints: each bad request gets its status and a complete
// error object, and the database is left as it was.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	target, _ := mustCreateToken(t, h, user, validAttrs())
	valid := string(mustJSON(t, createBody(validAttrs())))
	resource := `{"type":"apiToken","attributes":` + string(mustJSON(t, validAttrs())) + `}`
	update := `{"data":{"type":"apiToken","id":"{id}","attributes":{"description":"changed"}}}`

	for _, tc := range []struct {
		name, method, body string
		status             int
		code               string
		// source is the error's source: a pointer, "?" and a parameter,
		// or "" for none.
		source string
	}{
		{"a body that is not JSON", "POST", `{"data": {"type": "apiToken",`, 400, "invalid_value", ""},
		{"a body of form fields", "POST", `description=x&scope=customers`, 400, "invalid_value", ""},
		{"a JSON array", "POST", `[` + valid + `]`, 400, "invalid_value", ""},
		{"a JSON string", "POST", `"apiToken"`, 400, "invalid_value", ""},
		{"JSON null", "POST", `null`, 400, "invalid_value", ""},
		{"a document without data", "POST", `{"meta":{"note":"x"}}`, 400, "invalid_value", "/data"},
		{"data holding an array of resources", "POST", `{"data":[` + resource + `]}`, 400, "invalid_value", "/data"},
		{"data null", "POST", `{"data":null}`, 400, "invalid_value", "/data"},
		{"data holding a string", "POST", `{"data":"apiToken"}`, 400, "invalid_value", "/data"},
		{"trailing garbage after the document", "POST", valid + `x`, 400, "invalid_value", ""},
		{"a second document after the first", "POST", valid + valid, 400, "invalid_value", ""},
		{"an unknown top-level member", "POST", `{"data":` + resource + `,"included":[]}`, 400, "invalid_value", "/included"},
		{"an unknown member in the resource object", "POST", `{"data":{"type":"apiToken","color":"red","attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 400, "invalid_value", "/data/color"},
		{"attributes that are not an object", "POST", `{"data":{"type":"apiToken","attributes":["customers"]}}`, 400, "invalid_value", "/data/attributes"},
		{"an unknown attribute", "POST", string(mustJSON(t, createBody(attrsWith(map[string]any{"color": "red"})))), 400, "invalid_value", "/data/attributes/color"},
		{"a bad value", "POST", string(mustJSON(t, createBody(attrsWith(map[string]any{"scope": "nope"})))), 400, "invalid_value", "/data/attributes/scope"},
		{"a value of the wrong JSON type", "POST", string(mustJSON(t, createBody(attrsWith(map[string]any{"expiration": 1893456000})))), 400, "invalid_value", "/data/attributes/expiration"},
		{"a resource object without a type", "POST", `{"data":{"attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 400, "invalid_value", "/data/type"},
		{"a type that is not a string", "POST", `{"data":{"type":7,"attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 400, "invalid_value", "/data/type"},
		{"another resource type", "POST", `{"data":{"type":"user","attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 409, "conflict", "/data/type"},
		{"the resource type in another case", "POST", `{"data":{"type":"ApiToken","attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 409, "conflict", "/data/type"},
		{"a client-generated id", "POST", `{"data":{"type":"apiToken","id":"` + uuid.NewString() + `","attributes":` + string(mustJSON(t, validAttrs())) + `}}`, 403, "forbidden", "/data/id"},
		{"an empty body", "POST", ``, 400, "invalid_value", ""},
		{"a body of white space", "POST", " \n\t ", 400, "invalid_value", ""},

		{"an update that is not JSON", "PATCH", `{"data":`, 400, "invalid_value", ""},
		{"an update without data", "PATCH", `{"description":"changed"}`, 400, "invalid_value", "/data"},
		{"an update with data null", "PATCH", `{"data":null}`, 400, "invalid_value", "/data"},
		{"an update with trailing garbage", "PATCH", update + `}`, 400, "invalid_value", ""},
		{"an update of another resource type", "PATCH", strings.Replace(update, `"apiToken"`, `"user"`, 1), 409, "conflict", "/data/type"},
		{"an update naming another token", "PATCH", strings.Replace(update, `{id}`, uuid.NewString(), 1), 409, "conflict", "/data/id"},
		{"an update without an id", "PATCH", strings.Replace(update, `"id":"{id}",`, ``, 1), 400, "invalid_value", "/data/id"},
		{"an update with an unknown attribute", "PATCH", strings.Replace(update, `"description"`, `"name"`, 1), 400, "invalid_value", "/data/attributes/name"},
		{"an update with a bad value", "PATCH", strings.Replace(update, `"changed"`, `""`, 1), 400, "invalid_value", "/data/attributes/description"},
		{"an empty update", "PATCH", ``, 400, "invalid_value", ""},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			path := tokensPath(user)
			if tc.method == "PATCH" {
				path = tokenPath(user, target)
			}
			count, before := storedTokens(t, h), storedToken(t, h, user, target)
			r := h.do(req{method: tc.method, path: path, token: h.AdminToken, body: strings.ReplaceAll(tc.body, "{id}", target)})
			r.expectStatus(t, tc.status, tc.code)
			checkErrorDocument(t, r, tc.source)
			if n := storedTokens(t, h); n != count {
				t.Errorf("the database held %d tokens and now holds %d", count, n)
			}
			if after := storedToken(t, h, user, target); after.Description != before.Description || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("the token changed from %+v to %+v", before, after)
			}
		})
	}
}

// TestBodySizeLimit checks that a body of up to 64 KiB is read and a larger
// one refused with 413, whether its length is declared or it comes
// chunked, and that a refused body creates or changes nothing.
func TestBodySizeLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	target, _ := mustCreateToken(t, h, user, validAttrs())
	const limit = 64 << 10
	// padded returns a valid document grown with white space to n bytes.
	padded := func(doc any, n int) []byte {
		b := mustJSON(t, doc)
		return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	}
	withLength := func(t *testing.T, method, path string, body []byte) *http.Request {
		hr := chunked(t, h, method, path, nil)
		hr.Body, hr.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		return hr
	}

	for _, tc := range []struct {
		name    string
		request func(t *testing.T) *http.Request
		status  int
	}{
		{"a body of exactly 64 KiB with its length declared is read", func(t *testing.T) *http.Request {
			return withLength(t, "POST", tokensPath(user), padded(createBody(validAttrs()), limit))
		}, http.StatusCreated},
		{"a chunked body of exactly 64 KiB is read", func(t *testing.T) *http.Request {
			return chunked(t, h, "POST", tokensPath(user), padded(createBody(validAttrs()), limit))
		}, http.StatusCreated},
		{"a body one byte over 64 KiB with its length declared is refused", func(t *testing.T) *http.Request {
			return withLength(t, "POST", tokensPath(user), padded(createBody(validAttrs()), limit+1))
		}, http.StatusRequestEntityTooLarge},
		{"a chunked body one byte over 64 KiB is refused", func(t *testing.T) *http.Request {
			return chunked(t, h, "POST", tokensPath(user), padded(createBody(validAttrs()), limit+1))
		}, http.StatusRequestEntityTooLarge},
		{"a 200 KiB body is refused", func(t *testing.T) *http.Request {
			return withLength(t, "POST", tokensPath(user), padded(createBody(validAttrs()), 200<<10))
		}, http.StatusRequestEntityTooLarge},
		{"an update one byte over 64 KiB is refused", func(t *testing.T) *http.Request {
			return withLength(t, "PATCH", tokenPath(user, target), padded(updateBody(target, map[string]any{"description": "changed"}), limit+1))
		}, http.StatusRequestEntityTooLarge},
		{"a chunked update over 64 KiB is refused", func(t *testing.T) *http.Request {
			return chunked(t, h, "PATCH", tokenPath(user, target), padded(updateBody(target, map[string]any{"description": "changed"}), limit+1))
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			count := storedTokens(t, h)
			r := h.sendRaw(t, tc.request(t))
			if tc.status == http.StatusCreated {
				r.expectStatus(t, http.StatusCreated, "")
				if n := storedTokens(t, h); n != count+1 {
					t.Errorf("the database holds %d tokens, want %d", n, count+1)
				}
				return
			}
			r.expectStatus(t, tc.status, "payload_too_large")
			checkErrorDocument(t, r, "")
			if !strings.Contains(firstDetail(r), "65536 bytes") {
				t.Errorf("detail = %q, want it to name the limit", firstDetail(r))
			}
			if n := storedTokens(t, h); n != count {
				t.Errorf("the database held %d tokens and now holds %d", count, n)
			}
			if d := storedToken(t, h, user, target).Description; d != "Production token" {
				t.Errorf("the token's description changed to %q", d)
			}
		})
	}
}

// TestUnknownRoutesAndMethods checks that a path tokend does not serve is
// 404 and a method a path does not support is 405 with an Allow header.
func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	id, _ := mustCreateToken(t, h, user, validAttrs())

	for _, path := range []string{
		"/console/nope.js", // "/" is the console's
		"/nope",
		"/api-tokens/" + id,
		"/users/" + user + "/tokens",
		"/users/" + user + "/api-tokens/" + id + "/revoke",
		"/users/" + user + "/api-tokens/" + id + "/",
	} {
		t.Run("GET "+path+" is not found", func(t *testing.T) {
			t.Parallel()
			r := h.on(t).do(req{method: "GET", path: path, token: h.AdminToken})
			r.expectStatus(t, http.StatusNotFound, "not_found")
			checkErrorDocument(t, r, "")
		})
	}

	for _, tc := range []struct {
		method, path string
		allow        []string
	}{
		{"PUT", tokenPath(user, id), []string{"GET", "PATCH", "DELETE"}},
		{"POST", tokenPath(user, id), []string{"GET", "PATCH", "DELETE"}},
		{"PUT", tokensPath(user), []string{"GET", "POST", "DELETE"}},
		{"PATCH", tokensPath(user), []string{"GET", "POST", "DELETE"}},
		{"GET", rotatePath(user, id), []string{"POST"}},
		{"POST", "/api-tokens", []string{"GET"}},
		{"DELETE", "/api-tokens", []string{"GET"}},
	} {
		t.Run(tc.method+" "+tc.path+" is not allowed", func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			var body any
			if tc.method != "DELETE" {
				body = createBody(validAttrs())
			}
			count := storedTokens(t, h)
			r := h.do(req{method: tc.method, path: tc.path, token: h.AdminToken, body: body})
			r.expectStatus(t, http.StatusMethodNotAllowed, "")
			checkErrorDocument(t, r, "")
			var allowed []string
			for _, m := range strings.Split(r.Header.Get("Allow"), ",") {
				if m = strings.TrimSpace(m); m != "" && m != "OPTIONS" && m != "HEAD" {
					allowed = append(allowed, m)
				}
			}
			slices.Sort(allowed)
			want := slices.Sorted(slices.Values(tc.allow))
			if !slices.Equal(allowed, want) {
				t.Errorf("Allow = %q, want %v", r.Header.Get("Allow"), want)
			}
			if n := storedTokens(t, h); n != count {
				t.Errorf("the database held %d tokens and now holds %d", count, n)
			}
		})
	}
}
