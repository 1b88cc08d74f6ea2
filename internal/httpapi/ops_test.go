package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/httpapi"
	"github.com/tokend/tokend/internal/jsonapitest"
	"github.com/tokend/tokend/internal/store"
)

// doWithin sends a request like h.do, but gives up after limit instead of
// waiting for ever, and reports how long the answer took.
func doWithin(t *testing.T, h *harness, limit time.Duration, method, path, token string) (*response, time.Duration) {
	t.Helper()
	hr, err := http.NewRequest(method, h.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: limit}).Do(hr)
	if err != nil {
		t.Fatalf("%s %s: no answer within %s: %v", method, path, limit, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") == "application/vnd.api+json" {
		jsonapitest.Validate(t, b)
	}
	return &response{Response: resp, Body: b}, time.Since(start)
}

func TestDatabaseOutage(t *testing.T) {
	if os.Getenv(dbtest.EnvURL) == "" {
		t.Skip(dbtest.EnvURL + " is not set: the database outage test needs PostgreSQL, reached through a TCP proxy it can stop (CI sets it)")
	}
	u, err := url.Parse(dbtest.NewURL(t, store.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	proxy := dbtest.StartProxy(t, u.Host)
	u.Host = proxy.Addr
	const requestTimeout = 3 * time.Second
	h := newHarness(t, options{dbURL: u.String(), requestTimeout: requestTimeout})
	path := tokensPath(h.AdminID)
	// bound is the longest any answer may take while the database is away:
	// a request never hangs.
	const bound = 12 * time.Second

	ok := func(t *testing.T) {
		t.Helper()
		if r, _ := doWithin(t, h, bound, http.MethodGet, path, h.AdminToken); r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200\n%s", path, r.StatusCode, r.Body)
		}
		if r, _ := doWithin(t, h, bound, http.MethodGet, "/readyz", ""); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /readyz = %d, want 200\n%s", r.StatusCode, r.Body)
		}
	}
	unavailable := func(t *testing.T) {
		t.Helper()
		r, took := doWithin(t, h, bound, http.MethodGet, path, h.AdminToken)
		r.expectStatus(t, http.StatusServiceUnavailable, "unavailable")
		if took > bound {
			t.Errorf("the 503 took %s, want less than %s", took, bound)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("a 503 without Retry-After")
		}
		if bytes.Contains(r.Body, []byte("dial")) || bytes.Contains(r.Body, []byte("127.0.0.1")) {
			t.Errorf("the 503 leaks the cause: %s", r.Body)
		}
		if r, _ := doWithin(t, h, bound, http.MethodGet, "/readyz", ""); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz = %d, want 503\n%s", r.StatusCode, r.Body)
		}
		if r, _ := doWithin(t, h, bound, http.MethodGet, "/healthz", ""); r.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz = %d, want 200 while the process runs", r.StatusCode)
		}
	}
	recovers := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, _ := doWithin(t, h, bound, http.MethodGet, path, h.AdminToken)
			if r.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no recovery 15s after the database came back: %d\n%s", r.StatusCode, r.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		ok(t)
		r := h.do(req{method: http.MethodPost, path: path, token: h.AdminToken, body: createBody(validAttrs())})
		r.expectStatus(t, http.StatusCreated, "")
	}

	ok(t)
	t.Run("a database that refuses connections gives 503 at once", func(t *testing.T) {
		proxy.Refuse()
		unavailable(t)
		proxy.Forward()
		recovers(t)
	})
	t.Run("a database that stops answering gives 503 within the request timeout", func(t *testing.T) {
		proxy.Refuse()
		proxy.Forward()
		proxy.BlackHole() // accepts connections, answers nothing
		r, took := doWithin(t, h, bound, http.MethodGet, path, h.AdminToken)
		r.expectStatus(t, http.StatusServiceUnavailable, "unavailable")
		if took > requestTimeout+2*time.Second {
			t.Errorf("the 503 took %s, want about the request timeout, %s", took, requestTimeout)
		}
		unavailable(t)
		proxy.Refuse()
		proxy.Forward()
		recovers(t)
	})
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t, options{})
	path := tokensPath(h.AdminID)
	// padded returns a valid create document padded with spaces to size
	// bytes.
	padded := func(size int) []byte {
		doc, err := json.Marshal(createBody(validAttrs()))
		if err != nil {
			t.Fatal(err)
		}
		if len(doc) > size {
			t.Fatalf("document of %d bytes does not fit in %d", len(doc), size)
		}
		return append(doc, bytes.Repeat([]byte(" "), size-len(doc))...)
	}
	// chunked sends the body without declaring its length.
	chunked := func(t *testing.T, body []byte) *response {
		t.Helper()
		hr, err := http.NewRequest(http.MethodPost, h.URL+path, io.MultiReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		if hr.ContentLength != 0 {
			t.Fatalf("the request declares its length, %d", hr.ContentLength)
		}
		hr.Header.Set("Content-Type", "application/vnd.api+json")
		hr.Header.Set("Authorization", "Bearer "+h.AdminToken)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		jsonapitest.Validate(t, b)
		return &response{Response: resp, Body: b}
	}
	const limit = httpapi.DefaultBodyLimit
	if limit != 64<<10 {
		t.Fatalf("DefaultBodyLimit = %d, want 64 KiB", limit)
	}

	t.Run("a body of exactly the limit is accepted", func(t *testing.T) {
		r := h.do(req{method: http.MethodPost, path: path, token: h.AdminToken, body: padded(limit)})
		r.expectStatus(t, http.StatusCreated, "")
		if r.attrs()["token"] == nil {
			t.Errorf("no token in the create response: %s", r.Body)
		}
	})
	t.Run("a body one byte over the limit is refused", func(t *testing.T) {
		r := h.do(req{method: http.MethodPost, path: path, token: h.AdminToken, body: padded(limit + 1)})
		r.expectStatus(t, http.StatusRequestEntityTooLarge, "payload_too_large")
	})
	t.Run("a chunked body of exactly the limit is accepted", func(t *testing.T) {
		chunked(t, padded(limit)).expectStatus(t, http.StatusCreated, "")
	})
	t.Run("a chunked body one byte over the limit is refused", func(t *testing.T) {
		chunked(t, padded(limit+1)).expectStatus(t, http.StatusRequestEntityTooLarge, "payload_too_large")
	})
	t.Run("an oversized body is refused before authentication", func(t *testing.T) {
		r := h.do(req{method: http.MethodPost, path: path, body: padded(limit + 1)})
		r.expectStatus(t, http.StatusRequestEntityTooLarge, "payload_too_large")
	})
}

func TestAccessLogHoldsNoToken(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	memberToken, _ := h.mint(member, tokenSpec{scope: "api-tokens api-tokens-write customers"})
	tampered := memberToken[:len(memberToken)-30] + strings.Repeat("x", 30)
	secrets := map[string]string{"admin": h.AdminToken, "member": memberToken, "tampered": tampered}

	path := tokensPath(member)
	h.do(req{method: http.MethodGet, path: path, token: memberToken}).expectStatus(t, http.StatusOK, "")
	h.do(req{method: http.MethodGet, path: path, token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
	attrs := validAttrs()
	attrs["scope"], attrs["expiration"] = "customers", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	created := h.do(req{method: http.MethodPost, path: path, token: memberToken, body: createBody(attrs)})
	created.expectStatus(t, http.StatusCreated, "")
	secrets["created"] = created.attrs()["token"].(string)
	h.do(req{method: http.MethodGet, path: path, token: tampered}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
	h.do(req{method: http.MethodGet, path: path, token: "not-a-token"}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
	for _, q := range []string{"access_token", "token"} {
		r := h.do(req{method: http.MethodGet, path: path + "?" + q + "=" + url.QueryEscape(memberToken)})
		r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
		r = h.do(req{method: http.MethodGet, path: path + "?" + q + "=" + url.QueryEscape(memberToken), token: memberToken})
		r.expectStatus(t, http.StatusBadRequest, "invalid_value") // an unknown query parameter
	}
	h.do(req{method: http.MethodGet, path: path, header: http.Header{"Authorization": {"Token " + memberToken}}}).
		expectStatus(t, http.StatusUnauthorized, "unauthorized")
	h.do(req{method: http.MethodGet, path: "/auth?scope=customers", token: memberToken}).expectStatus(t, http.StatusOK, "")
	h.do(req{method: http.MethodGet, path: "/auth?scope=users", token: memberToken}).expectStatus(t, http.StatusForbidden, "forbidden")
	r := h.introspect(h.AdminToken, url.Values{"token": {memberToken}})
	if r.StatusCode != http.StatusOK || !bytes.Contains(r.Body, []byte(`"active":true`)) {
		t.Fatalf("introspect = %d %s, want an active token", r.StatusCode, r.Body)
	}
	h.do(req{method: http.MethodDelete, path: path + "/" + created.data()["id"].(string), token: memberToken}).
		expectStatus(t, http.StatusOK, "")
	h.do(req{method: http.MethodGet, path: path, token: secrets["created"]}).expectStatus(t, http.StatusUnauthorized, "unauthorized")

	logs := h.Logs.String()
	var statuses []int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if entry.Msg == "request" {
			statuses = append(statuses, entry.Status)
		}
	}
	if len(statuses) < 15 || !slices.Contains(statuses, http.StatusUnauthorized) || !slices.Contains(statuses, http.StatusCreated) {
		t.Fatalf("the access log does not show the requests: statuses %v\n%s", statuses, logs)
	}
	for name, tok := range secrets {
		parts := strings.Split(tok, ".")
		fragment := parts[len(parts)-1]
		if len(parts) >= 3 {
			fragment = parts[2][len(parts[2])-30:] // the end of the signed part
		}
		if strings.Contains(logs, tok) || strings.Contains(logs, fragment) {
			t.Errorf("the log holds the %s token:\n%s", name, logs)
		}
	}
	if strings.Contains(logs, "v2.public.") {
		t.Errorf("the log holds something like a token:\n%s", logs)
	}
}
