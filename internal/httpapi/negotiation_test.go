package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
)

// jsonapiType is the JSON:API media type.
const jsonapiType = "application/vnd.api+json"

// TestResponsesHaveThePlainJSONAPIMediaType checks that every API response,
// successful or not, is application/vnd.api+json with no parameters.
func TestResponsesHaveThePlainJSONAPIMediaType(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	id, memberToken := mustCreateToken(t, h, member, attrsWith(map[string]any{"scope": "api-tokens"}))
	revoked, _ := mustCreateToken(t, h, member, validAttrs())

	for _, tc := range []struct {
		name string
		req  req
		// status is the expected status; code the expected error code.
		status int
		code   string
	}{
		{"a list", req{method: "GET", path: tokensPath(member)}, 200, ""},
		{"a created token", req{method: "POST", path: tokensPath(member), body: createBody(validAttrs())}, 201, ""},
		{"a token", req{method: "GET", path: tokenPath(member, id)}, 200, ""},
		{"an updated token", req{method: "PATCH", path: tokenPath(member, id), body: updateBody(id, map[string]any{"description": "x"})}, 200, ""},
		{"a revoked token", req{method: "DELETE", path: tokenPath(member, revoked)}, 200, ""},
		{"every user's tokens", req{method: "GET", path: "/api-tokens"}, 200, ""},
		{"an answer to a client accepting a JSON:API profile", req{method: "GET", path: tokensPath(member),
			header: http.Header{"Accept": {jsonapiType + `; profile="https://example.com/profiles/audit"`}}}, 200, ""},
		{"a validation error", req{method: "POST", path: tokensPath(member), body: createBody(map[string]any{})}, 400, "invalid_value"},
		{"a missing token", req{method: "GET", path: tokensPath(member), token: "-"}, 401, "unauthorized"},
		{"a forbidden request", req{method: "GET", path: "/api-tokens", token: memberToken}, 403, "forbidden"},
		{"an unknown route", req{method: "GET", path: "/nope"}, 404, "not_found"},
		{"an unknown user", req{method: "GET", path: tokensPath("42")}, 404, "not_found"},
		{"a wrong method", req{method: "PUT", path: tokenPath(member, id), body: createBody(validAttrs())}, 405, ""},
		{"a refused Accept header", req{method: "GET", path: tokensPath(member), header: http.Header{"Accept": {jsonapiType + "; charset=utf-8"}}}, 406, "not_acceptable"},
		{"a conflict", req{method: "PATCH", path: tokenPath(member, revoked), body: updateBody(revoked, map[string]any{"enabled": true})}, 409, "conflict"},
		{"a refused media type", req{method: "POST", path: tokensPath(member), body: createBody(validAttrs()), contentType: "application/json"}, 415, "unsupported_media_type"},
	} {
		t.Run(tc.name+" is plain JSON:API", func(t *testing.T) {
			h := h.on(t)
			switch tc.req.token {
			case "":
				tc.req.token = h.AdminToken
			case "-":
				tc.req.token = ""
			}
			r := h.do(tc.req)
			r.expectStatus(t, tc.status, tc.code)
			if ct := r.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != jsonapiType {
				t.Errorf("Content-Type = %q, want exactly %s", ct, jsonapiType)
			}
		})
	}
}

// TestRequestContentType checks that a request body is accepted only as
// JSON:API, with no media type parameters but profile, and that a refused
// one creates nothing.
func TestRequestContentType(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	id, _ := mustCreateToken(t, h, member, validAttrs())

	for _, tc := range []struct {
		name, contentType string
		// accepted says whether the body is read.
		accepted bool
		// detail is a phrase a refusal must contain.
		detail string
	}{
		{"the JSON:API media type is accepted", jsonapiType, true, ""},
		{"the JSON:API media type in upper case is accepted", strings.ToUpper(jsonapiType), true, ""},
		{"a profile parameter is accepted", jsonapiType + `; profile="https://example.com/profiles/audit"`, true, ""},
		{"a profile parameter listing two profiles is accepted", jsonapiType + `;profile="https://example.com/a https://example.com/b"`, true, ""},
		{"a charset parameter is refused", jsonapiType + "; charset=utf-8", false, `"charset"`},
		{"a version parameter is refused", jsonapiType + "; version=1.1", false, `"version"`},
		{"an unsupported extension is refused", jsonapiType + `; ext="https://jsonapi.org/ext/atomic"`, false, "extensions"},
		{"an extension next to a profile is refused", jsonapiType + `; profile="https://example.com/p"; ext="https://jsonapi.org/ext/atomic"`, false, "extensions"},
		{"plain JSON is refused", "application/json", false, jsonapiType},
		{"plain text is refused", "text/plain", false, jsonapiType},
		{"a form is refused", "application/x-www-form-urlencoded", false, jsonapiType},
		{"a malformed media type is refused", "application/vnd.api+json; =", false, jsonapiType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := h.on(t)
			count := storedTokens(t, h)
			r := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, body: createBody(validAttrs()), contentType: tc.contentType})
			if tc.accepted {
				r.expectStatus(t, http.StatusCreated, "")
				if n := storedTokens(t, h); n != count+1 {
					t.Errorf("the database holds %d tokens, want %d", n, count+1)
				}
				u := h.do(req{method: "PATCH", path: tokenPath(member, id), token: h.AdminToken,
					body: updateBody(id, map[string]any{"description": tc.name}), contentType: tc.contentType})
				u.expectStatus(t, http.StatusOK, "")
				return
			}
			r.expectStatus(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			checkErrorDocument(t, r, "")
			if !strings.Contains(firstDetail(r), tc.detail) {
				t.Errorf("detail = %q, want it to mention %s", firstDetail(r), tc.detail)
			}
			if n := storedTokens(t, h); n != count {
				t.Errorf("the database held %d tokens and now holds %d", count, n)
			}
			u := h.do(req{method: "PATCH", path: tokenPath(member, id), token: h.AdminToken,
				body: updateBody(id, map[string]any{"description": "refused"}), contentType: tc.contentType})
			u.expectStatus(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			if d := storedToken(t, h, member, id).Description; d == "refused" {
				t.Error("an update with a refused media type changed the token")
			}
		})
	}

	t.Run("a body without a Content-Type is refused", func(t *testing.T) {
		count := storedTokens(t, h)
		hr := chunked(t, h, "POST", tokensPath(member), mustJSON(t, createBody(validAttrs())))
		hr.Header.Del("Content-Type")
		r := h.sendRaw(t, hr)
		r.expectStatus(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		if n := storedTokens(t, h); n != count {
			t.Errorf("the database held %d tokens and now holds %d", count, n)
		}
	})

	t.Run("a request without a body needs no Content-Type", func(t *testing.T) {
		r := h.on(t).do(req{method: "DELETE", path: tokenPath(member, id), token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
	})
}

// TestAcceptHeader checks that a client accepting JSON:API only with media
// type parameters gets 406, and any other client a JSON:API answer.
func TestAcceptHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)

	for _, tc := range []struct {
		name   string
		accept []string
		ok     bool
	}{
		{"no Accept header is answered", nil, true},
		{"*/* is answered", []string{"*/*"}, true},
		{"application/* is answered", []string{"application/*"}, true},
		{"the JSON:API media type is answered", []string{jsonapiType}, true},
		{"the JSON:API media type with a quality is answered", []string{jsonapiType + ";q=0.5"}, true},
		{"the JSON:API media type with a profile is answered", []string{jsonapiType + `; profile="https://example.com/p"`}, true},
		{"a parameterised and a plain instance are answered", []string{jsonapiType + "; charset=utf-8, " + jsonapiType}, true},
		{"a plain instance in a second Accept header is answered", []string{jsonapiType + `; ext="https://jsonapi.org/ext/atomic"`, jsonapiType}, true},
		{"a plain instance among other types is answered", []string{"text/html, " + jsonapiType + "; charset=utf-8, " + jsonapiType + ";q=0.9"}, true},
		{"only a charset parameter is refused", []string{jsonapiType + "; charset=utf-8"}, false},
		{"only an extension is refused", []string{jsonapiType + `; ext="https://jsonapi.org/ext/atomic"`}, false},
		{"only parameterised instances are refused", []string{jsonapiType + "; charset=utf-8, " + jsonapiType + `; ext="https://jsonapi.org/ext/atomic"`}, false},
		{"only parameterised instances are refused even next to */*", []string{jsonapiType + "; charset=utf-8, */*"}, false},
		{"only parameterised instances in two headers are refused", []string{jsonapiType + "; charset=utf-8", jsonapiType + "; version=1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := h.on(t)
			hd := http.Header{}
			for _, a := range tc.accept {
				hd.Add("Accept", a)
			}
			r := h.do(req{method: "GET", path: tokensPath(member), token: h.AdminToken, header: hd})
			if tc.ok {
				r.expectStatus(t, http.StatusOK, "")
				return
			}
			r.expectStatus(t, http.StatusNotAcceptable, "not_acceptable")
			checkErrorDocument(t, r, "")

			count := storedTokens(t, h)
			c := h.do(req{method: "POST", path: tokensPath(member), token: h.AdminToken, header: hd, body: createBody(validAttrs())})
			c.expectStatus(t, http.StatusNotAcceptable, "not_acceptable")
			if n := storedTokens(t, h); n != count {
				t.Errorf("a request refused with 406 changed the number of tokens from %d to %d", count, n)
			}
		})
	}
}
