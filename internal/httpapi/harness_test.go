package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/jsonapitest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/verifier"
)

// testSecret is the secret the harness's servers seal their keys with.
const testSecret = tokendtest.Secret

// harness is a tokend HTTP server on a real loopback listener over a real,
// migrated database, with an admin and a token for it.
type harness struct {
	t       testing.TB
	URL     string
	Handler http.Handler
	Store   *store.Store
	Ring    *keys.Ring
	Service *service.Service
	App     *app.App
	Catalog *apitoken.Catalog
	Logs    *syncBuffer
	// Clock is the server's clock: real time, moved ahead by the test.
	Clock *clock

	AdminID    string
	AdminToken string
}

// options change how newHarness builds the server.
type options struct {
	dbURL          string
	trustedProxies string
	maxLifetime    time.Duration
	requestTimeout time.Duration
	env            map[string]string // more TOKEND_* settings
}

// forEachDB runs fn against a fresh harness on every database dialect.
func forEachDB(t *testing.T, fn func(t *testing.T, h *harness)) {
	forEachDBWith(t, options{}, fn)
}

// forEachDBWith runs fn against a fresh harness with the options on every
// database dialect.
func forEachDBWith(t *testing.T, opt options, fn func(t *testing.T, h *harness)) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			opt := opt
			opt.dbURL = dbtest.NewURL(t, d)
			fn(t, newHarness(t, opt))
		})
	}
}

// newHarness starts a server. Without opt.dbURL it uses a fresh SQLite file.
func newHarness(t testing.TB, opt options) *harness {
	t.Helper()
	logs := &syncBuffer{}
	clk := &clock{}
	srv := tokendtest.Start(t, tokendtest.Options{
		Now:            clk.Now,
		DatabaseURL:    opt.dbURL,
		TrustedProxies: opt.trustedProxies,
		Logs:           logs,
		MaxLifetime:    opt.maxLifetime,
		RequestTimeout: opt.requestTimeout,
		Env:            opt.env,
	})
	return &harness{
		t: t, URL: srv.URL, Handler: srv.Handler, Store: srv.Store, Ring: srv.Ring, Service: srv.Service, App: srv.App,
		Catalog: srv.Service.Catalog(), Logs: logs, Clock: clk, AdminID: srv.AdminID, AdminToken: srv.AdminToken,
	}
}

// clock is real time moved ahead by what the test adds, so that a test can
// let time pass without waiting for it; once frozen, only Advance moves it.
type clock struct {
	mu     sync.Mutex
	ahead  time.Duration
	frozen time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.ahead)
	}
	return time.Now().Add(c.ahead)
}

// Freeze stops the clock where it is, for tests whose expectations depend
// on exactly how much time passed (rate limits' Retry-After).
func (c *clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = time.Now()
}

// Advance moves the clock ahead.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.ahead += d
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// user creates a user and returns its id.
func (h *harness) user(role apitoken.Role, scopes ...string) string {
	h.t.Helper()
	req := apitoken.UserRequest{Email: uuid.NewString() + "@example.com", Role: string(role)}
	if len(scopes) > 0 {
		s := strings.Join(scopes, " ")
		req.Scopes = &s
	}
	u, err := h.Service.AddUser(context.Background(), req)
	if err != nil {
		h.t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// tokenSpec describes a token for mint.
type tokenSpec struct {
	scope      string
	expiration time.Time
	sourceIP   string
	resources  []apitoken.Resource
}

// mint issues a token for the user, as the command line does, and returns
// the token string and its id.
func (h *harness) mint(userID string, spec tokenSpec) (string, string) {
	h.t.Helper()
	if spec.expiration.IsZero() {
		spec.expiration = h.Clock.Now().Add(24 * time.Hour)
	}
	exp := spec.expiration.UTC().Format(time.RFC3339Nano)
	desc := "test token"
	req := apitoken.TokenRequest{Description: &desc, Scope: &spec.scope, Expiration: &exp, Resources: spec.resources}
	if spec.sourceIP != "" {
		req.SourceIP = &spec.sourceIP
	}
	tok, raw, err := h.Service.IssueToken(context.Background(), userID, req)
	if err != nil {
		h.t.Fatalf("mint token: %v", err)
	}
	return raw, tok.ID
}

// forge signs arbitrary claims with tokend's active key and stores the
// matching metadata, for tokens the API would never issue (already expired,
// not yet valid). It returns the token string.
func (h *harness) forge(userID string, c verifier.Claims, stored func(*apitoken.Token)) string {
	h.t.Helper()
	ctx := context.Background()
	if c.ID == "" {
		c.ID = uuid.Must(uuid.NewV7()).String()
	}
	c.Subject, c.Issuer = userID, "tokend"
	if c.Scope == "" {
		c.Scope = apitoken.ScopeAPITokens
	}
	raw, kid, err := h.Ring.Sign(ctx, c)
	if err != nil {
		h.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(raw))
	t := apitoken.Token{
		ID: c.ID, UserID: userID, Description: "forged", Scope: c.Scope, Expiration: c.Expiration,
		Enabled: true, KeyID: kid, Hash: sum[:], CreatedAt: c.IssuedAt, UpdatedAt: c.IssuedAt,
	}
	if stored != nil {
		stored(&t)
	}
	if err := h.Store.Tokens.Create(ctx, &t); err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// response is an HTTP response with its body read.
type response struct {
	*http.Response
	Body []byte
}

// doc decodes the body as a JSON document.
func (r *response) doc() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		panic("response is not JSON: " + string(r.Body))
	}
	return m
}

// data returns the primary data of a single-resource document.
func (r *response) data() map[string]any {
	d, _ := r.doc()["data"].(map[string]any)
	return d
}

// attrs returns the attributes of a single-resource document.
func (r *response) attrs() map[string]any {
	a, _ := r.data()["attributes"].(map[string]any)
	return a
}

// list returns the primary data of a collection document.
func (r *response) list() []map[string]any {
	var out []map[string]any
	for _, d := range r.doc()["data"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// errors returns the error objects of an error document.
func (r *response) errors() []map[string]any {
	var out []map[string]any
	for _, e := range r.doc()["errors"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// req describes a request for do.
type req struct {
	method, path, token string
	// body is sent as JSON:API unless contentType says otherwise; a string
	// is sent as is, anything else is encoded as JSON.
	body        any
	contentType string
	header      http.Header
}

// do sends a request and returns the response. Every JSON:API response is
// checked against the official schema and its media type.
func (h *harness) do(r req) *response {
	h.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(enc)
	}
	hr, err := http.NewRequest(r.method, h.URL+r.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/vnd.api+json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := &response{Response: resp, Body: b}
	ct := resp.Header.Get("Content-Type")
	// Every answer with a body is a JSON:API document (a CORS preflight's
	// 204 has none).
	if r.method != http.MethodHead && resp.StatusCode != http.StatusNoContent && ct != "application/vnd.api+json" && isAPIPath(r.path, resp.StatusCode) {
		h.t.Fatalf("%s %s: Content-Type = %q, want application/vnd.api+json", r.method, r.path, ct)
	}
	if ct == "application/vnd.api+json" && r.method != http.MethodHead {
		jsonapitest.Validate(h.t, b)
	}
	checkOpenAPI(h.t, hr, resp, b)
	return out
}

// isAPIPath reports whether a response to the path must be JSON:API: all
// are but the health checks, the key set, the web console, and the
// successful answers of the verification endpoints (RFC 7662 JSON, the
// feed's JSON, forward-auth's empty 200, secret scanning's answer).
func isAPIPath(path string, status int) bool {
	if path == "/" {
		return false // the redirect to the console
	}
	for _, plain := range []string{"/healthz", "/readyz", "/metrics", "/.well-known/", "/openapi.json", "/console"} {
		if strings.HasPrefix(path, plain) {
			return false
		}
	}
	for _, verification := range []string{"/introspect", "/revoke", "/revocations", "/auth", "/secret-scanning/reports"} {
		if (path == verification || strings.HasPrefix(path, verification+"?") || strings.HasPrefix(path, verification+"/")) && status < 300 {
			return false
		}
	}
	return true
}

// expectStatus fails the test unless the response has the status; for an
// error status it also checks the error code of the first error.
func (r *response) expectStatus(t testing.TB, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status = %d, want %d\n%s", r.StatusCode, status, r.Body)
	}
	if code != "" {
		errs := r.errors()
		if len(errs) == 0 || errs[0]["code"] != code {
			t.Fatalf("error code = %v, want %q\n%s", errs, code, r.Body)
		}
		for _, e := range errs {
			if e["status"] != strconv.Itoa(status) || e["title"] == "" || e["detail"] == "" {
				t.Fatalf("error object lacks status %d, title or detail: %s", status, r.Body)
			}
		}
	}
}

// createBody returns a create document with the given attributes.
func createBody(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "apiToken", "attributes": attrs}}
}

// validAttrs returns attributes of a valid create request.
func validAttrs() map[string]any {
	return map[string]any{
		"description": "Production token",
		"scope":       "customers applications",
		"expiration":  time.Now().Add(30 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
	}
}

// tokensPath returns the path of a user's token collection.
func tokensPath(userID string) string { return "/users/" + userID + "/api-tokens" }

// clientIP is the address tests connect from.
var clientIP = netip.MustParseAddr("127.0.0.1")

// on returns a copy of the harness that reports failures to t, for
// parallel subtests that share one harness.
func (h *harness) on(t testing.TB) *harness {
	c := *h
	c.t = t
	return &c
}
