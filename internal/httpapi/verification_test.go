package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// form posts a form to /introspect with the caller's token.
func (h *harness) introspect(caller string, form url.Values) *response {
	h.t.Helper()
	return h.do(req{method: "POST", path: "/introspect", token: caller, body: form.Encode(),
		contentType: "application/x-www-form-urlencoded"})
}

func TestIntrospection(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect})
		member := h.user(apitoken.RoleMember)
		exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
		active, activeID := h.mint(member, tokenSpec{scope: "customers accounts", expiration: exp})

		t.Run("an active token is described", func(t *testing.T) {
			r := h.introspect(caller, url.Values{"token": {active}})
			r.expectStatus(t, 200, "")
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			var got map[string]any
			json.Unmarshal(r.Body, &got)
			want := map[string]any{"active": true, "scope": "customers accounts", "sub": member, "jti": activeID,
				"iss": "tokend", "token_type": "Bearer", "exp": float64(exp.Unix())}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			iat, _ := got["iat"].(float64)
			if d := time.Since(time.Unix(int64(iat), 0)); d < 0 || d > time.Minute || got["nbf"] != got["iat"] {
				t.Errorf("iat = %v, nbf = %v", got["iat"], got["nbf"])
			}
		})

		revoked, revokedID := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokensPath(member) + "/" + revokedID, token: h.AdminToken}).expectStatus(t, 200, "")
		expired := h.forge(member, verifier.Claims{IssuedAt: time.Now().Add(-2 * time.Hour),
			NotBefore: time.Now().Add(-2 * time.Hour), Expiration: time.Now().Add(-time.Hour)}, nil)
		bound, _ := h.mint(member, tokenSpec{scope: "customers", sourceIP: "10.0.0.0/8"})
		for name, form := range map[string]url.Values{
			"a revoked token":                       {"token": {revoked}},
			"an expired token":                      {"token": {expired}},
			"garbage":                               {"token": {"not a token"}},
			"a v2.local token":                      {"token": {"v2.local.AAAA"}},
			"an IP-bound token used from elsewhere": {"token": {bound}, "client_ip": {"192.0.2.1"}},
			"an IP-bound token without client_ip":   {"token": {bound}},
		} {
			t.Run(name+" is inactive and nothing more", func(t *testing.T) {
				r := h.introspect(caller, form)
				r.expectStatus(t, 200, "")
				if strings.TrimSpace(string(r.Body)) != `{"active":false}` {
					t.Fatalf("body = %s", r.Body)
				}
			})
		}
		t.Run("an IP-bound token used from inside its range is active", func(t *testing.T) {
			r := h.introspect(caller, url.Values{"token": {bound}, "client_ip": {"10.9.8.7"}})
			if !strings.Contains(string(r.Body), `"active":true`) || !strings.Contains(string(r.Body), `"sourceIp":"10.0.0.0/8"`) {
				t.Fatalf("body = %s", r.Body)
			}
		})
		t.Run("the caller needs the introspect scope", func(t *testing.T) {
			h.introspect(active, url.Values{"token": {active}}).expectStatus(t, 403, "forbidden")
		})
		t.Run("the caller must authenticate", func(t *testing.T) {
			r := h.introspect("", url.Values{"token": {active}})
			r.expectStatus(t, 401, "unauthorized")
		})
		t.Run("the token field is required", func(t *testing.T) {
			r := h.introspect(caller, url.Values{})
			r.expectStatus(t, 400, "invalid_value")
			if src := r.errors()[0]["source"].(map[string]any); src["parameter"] != "token" {
				t.Fatalf("source = %v", src)
			}
		})
		t.Run("client_ip must be an address", func(t *testing.T) {
			h.introspect(caller, url.Values{"token": {active}, "client_ip": {"nope"}}).expectStatus(t, 400, "invalid_value")
		})
		t.Run("a malformed form is a bad request", func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/introspect", token: caller, body: "token=%zz",
				contentType: "application/x-www-form-urlencoded"})
			r.expectStatus(t, 400, "invalid_value")
		})
		t.Run("the body must be a form", func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/introspect", token: caller, body: `{"token":"x"}`, contentType: "application/json"})
			r.expectStatus(t, 415, "unsupported_media_type")
		})
	})
}

func TestForwardAuth(t *testing.T) {
	h := newHarness(t, options{trustedProxies: "127.0.0.1/32"})
	member := h.user(apitoken.RoleMember)
	reader, readerID := h.mint(member, tokenSpec{scope: "customers"})
	both, _ := h.mint(member, tokenSpec{scope: "customers payments-write"})
	bound, _ := h.mint(member, tokenSpec{scope: "customers", sourceIP: "10.0.0.0/8"})

	auth := func(method, path, token string, header map[string]string) *response {
		t.Helper()
		hd := http.Header{}
		for k, v := range header {
			hd.Set(k, v)
		}
		return h.do(req{method: method, path: path, token: token, header: hd})
	}

	t.Run("a valid token passes and its identity is returned in headers", func(t *testing.T) {
		r := auth("GET", "/auth?scope=customers", reader, nil)
		if r.StatusCode != 200 || r.Header.Get("X-Token-Subject") != member || r.Header.Get("X-Token-Id") != readerID ||
			r.Header.Get("X-Token-Scope") != "customers" {
			t.Fatalf("status %d, headers %v", r.StatusCode, r.Header)
		}
	})
	t.Run("every method of the original request is accepted", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
			if r := auth(m, "/auth?scope=customers", reader, nil); r.StatusCode != 200 {
				t.Fatalf("%s: %d", m, r.StatusCode)
			}
		}
	})
	t.Run("a missing scope is 403 with insufficient_scope and the scopes required", func(t *testing.T) {
		r := auth("GET", "/auth?scope=customers+payments-write", reader, nil)
		r.expectStatus(t, 403, "forbidden")
		want := `Bearer realm="tokend", error="insufficient_scope", scope="customers payments-write"`
		if c := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, want) {
			t.Fatalf("WWW-Authenticate = %q, want prefix %q", c, want)
		}
		if r := auth("GET", "/auth?scope=customers&scope=payments-write", both, nil); r.StatusCode != 200 {
			t.Fatalf("repeated scope parameters: %d", r.StatusCode)
		}
	})
	t.Run("a malformed query fails closed, never dropping the scopes it names", func(t *testing.T) {
		for _, q := range []string{
			"scope=payments-write&%zz",
			"scope=payments-write;x=1",
			"scope=payments-write&scope=%",
			"scope=%E0%A4%A",
			"scope=customers&%zz",
		} {
			r := auth("GET", "/auth?"+q, reader, nil)
			r.expectStatus(t, 400, "invalid_value")
			if src, _ := r.errors()[0]["source"].(map[string]any); src["parameter"] != "scope" {
				t.Fatalf("?%s: source = %v", q, r.errors()[0]["source"])
			}
		}
	})
	t.Run("Envoy's form: the original path appended and the scopes in a header", func(t *testing.T) {
		hdr := map[string]string{"X-Tokend-Scope": "payments-write"}
		if r := auth("POST", "/auth/payments/42?expand=true", reader, hdr); r.StatusCode != 403 {
			t.Fatalf("reader: %d", r.StatusCode)
		}
		if r := auth("POST", "/auth/payments/42?expand=true", both, hdr); r.StatusCode != 200 {
			t.Fatalf("payer: %d", r.StatusCode)
		}
	})
	t.Run("a scope header adds to the query and cannot remove from it", func(t *testing.T) {
		r := auth("GET", "/auth?scope=payments-write", reader, map[string]string{"X-Tokend-Scope": ""})
		if r.StatusCode != 403 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("no token is 401 with a bare Bearer challenge", func(t *testing.T) {
		r := auth("GET", "/auth", "", nil)
		r.expectStatus(t, 401, "unauthorized")
		if c := r.Header.Get("WWW-Authenticate"); c != `Bearer realm="tokend"` {
			t.Fatalf("WWW-Authenticate = %q", c)
		}
	})
	t.Run("an invalid token is 401 with invalid_token", func(t *testing.T) {
		r := auth("GET", "/auth", reader+"x", nil)
		r.expectStatus(t, 401, "unauthorized")
		if c := r.Header.Get("WWW-Authenticate"); !strings.Contains(c, `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate = %q", c)
		}
	})
	t.Run("the client address comes from X-Forwarded-For of a trusted proxy", func(t *testing.T) {
		if r := auth("GET", "/auth", bound, map[string]string{"X-Forwarded-For": "10.1.2.3"}); r.StatusCode != 200 {
			t.Fatalf("from 10.1.2.3: %d", r.StatusCode)
		}
		if r := auth("GET", "/auth", bound, map[string]string{"X-Forwarded-For": "192.0.2.7"}); r.StatusCode != 403 {
			t.Fatalf("from 192.0.2.7: %d", r.StatusCode)
		}
	})
	t.Run("a body is ignored, whatever its size", func(t *testing.T) {
		r := h.do(req{method: "POST", path: "/auth?scope=customers", token: reader,
			body: strings.Repeat("x", 200<<10), contentType: "application/octet-stream"})
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("at most 64 required scopes are taken", func(t *testing.T) {
		many := make([]string, 65)
		for i := range many {
			many[i] = "s" + strconv.Itoa(i)
		}
		r := auth("GET", "/auth?scope="+url.QueryEscape(strings.Join(many[:64], " ")), reader, nil)
		r.expectStatus(t, 403, "forbidden") // 64 unknown scopes: counted, then missing
		r = auth("GET", "/auth", reader, map[string]string{"X-Tokend-Scope": strings.Join(many, " ")})
		r.expectStatus(t, 400, "invalid_value")
		if src := r.errors()[0]["source"].(map[string]any); src["parameter"] != "scope" {
			t.Fatalf("source = %v", src)
		}
		// Repeats count once.
		r = auth("GET", "/auth?scope="+url.QueryEscape(strings.Repeat("customers ", 1000)), reader, nil)
		if r.StatusCode != 200 {
			t.Fatalf("one scope repeated: %d", r.StatusCode)
		}
	})
	t.Run("a revoked token is refused at once", func(t *testing.T) {
		tok, id := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokensPath(member) + "/" + id, token: h.AdminToken}).expectStatus(t, 200, "")
		if r := auth("GET", "/auth", tok, nil); r.StatusCode != 401 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
}

// feedPage is a page of GET /revocations.
type feedPage struct {
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
	Tokens []struct {
		ID         string `json:"jti"`
		Subject    string `json:"sub"`
		Revoked    bool   `json:"revoked"`
		Enabled    bool   `json:"enabled"`
		Expiration string `json:"expiration"`
	} `json:"tokens"`
	Users []struct {
		Subject  string `json:"sub"`
		Disabled bool   `json:"disabled"`
	} `json:"users"`
}

func (h *harness) feed(caller, query string) feedPage {
	h.t.Helper()
	r := h.do(req{method: "GET", path: "/revocations" + query, token: caller})
	r.expectStatus(h.t, 200, "")
	var p feedPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// round reads the feed from the cursor to the end of the round.
func (h *harness) round(caller, cursor string, limit int) (map[string]bool, map[string]bool, string) {
	h.t.Helper()
	tokens, users := map[string]bool{}, map[string]bool{}
	for {
		q := "?limit=" + strconv.Itoa(limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p := h.feed(caller, q)
		for _, tk := range p.Tokens {
			if _, dup := tokens[tk.ID]; dup {
				h.t.Fatalf("token %s twice in one round", tk.ID)
			}
			tokens[tk.ID] = tk.Revoked || !tk.Enabled
		}
		for _, u := range p.Users {
			users[u.Subject] = u.Disabled
		}
		cursor = p.Cursor
		if !p.More {
			return tokens, users, cursor
		}
	}
}

func TestRevocationFeed(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect})
		member := h.user(apitoken.RoleMember)
		_, untouchedID := h.mint(member, tokenSpec{scope: "customers"})
		_, revokedID := h.mint(member, tokenSpec{scope: "customers"})
		_, disabledID := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokensPath(member) + "/" + revokedID, token: h.AdminToken}).expectStatus(t, 200, "")
		h.do(req{method: "PATCH", path: tokensPath(member) + "/" + disabledID, token: h.AdminToken,
			body: `{"data":{"type":"apiToken","id":"` + disabledID + `","attributes":{"enabled":false}}}`}).expectStatus(t, 200, "")
		offUser := h.user(apitoken.RoleMember)
		if _, err := h.Service.SetUserDisabled(context.Background(), offUser, true); err != nil {
			t.Fatal(err)
		}

		tokens, users, cursor := h.round(caller, "", 1)
		t.Run("the snapshot holds revoked and disabled tokens and disabled users", func(t *testing.T) {
			if !tokens[revokedID] || !tokens[disabledID] || !users[offUser] {
				t.Fatalf("tokens %v, users %v", tokens, users)
			}
			if _, ok := tokens[untouchedID]; ok {
				t.Fatal("the snapshot lists an untouched token")
			}
		})
		t.Run("the next round carries later changes, re-enabling included", func(t *testing.T) {
			h.do(req{method: "DELETE", path: tokensPath(member) + "/" + untouchedID, token: h.AdminToken}).expectStatus(t, 200, "")
			h.do(req{method: "PATCH", path: tokensPath(member) + "/" + disabledID, token: h.AdminToken,
				body: `{"data":{"type":"apiToken","id":"` + disabledID + `","attributes":{"enabled":true}}}`}).expectStatus(t, 200, "")
			tokens, _, _ := h.round(caller, cursor, 1000)
			if !tokens[untouchedID] {
				t.Fatalf("revocation missing: %v", tokens)
			}
			if blocked, ok := tokens[disabledID]; !ok || blocked {
				t.Fatalf("re-enabled token: present %v, blocked %v", ok, blocked)
			}
		})
		t.Run("using a token does not put it in the feed", func(t *testing.T) {
			used, usedID := h.mint(member, tokenSpec{scope: "api-tokens"})
			_, _, cur := h.round(caller, "", 1000)
			h.do(req{method: "GET", path: tokensPath(member), token: used}).expectStatus(t, 200, "")
			if err := h.Service.FlushUsage(context.Background()); err != nil {
				t.Fatal(err)
			}
			tokens, _, _ := h.round(caller, cur, 1000)
			if _, ok := tokens[usedID]; ok {
				t.Fatal("a use reached the feed")
			}
			stored, err := h.Store.Tokens.Get(context.Background(), member, usedID)
			if err != nil || stored.LastUsedAt == nil || !stored.UpdatedAt.Equal(stored.CreatedAt) {
				t.Fatalf("after a use: lastUsedAt %v, updatedAt %v, createdAt %v (%v)", stored.LastUsedAt, stored.UpdatedAt, stored.CreatedAt, err)
			}
		})
		t.Run("the feed needs the introspect scope", func(t *testing.T) {
			tok, _ := h.mint(member, tokenSpec{scope: "customers"})
			h.do(req{method: "GET", path: "/revocations", token: tok}).expectStatus(t, 403, "forbidden")
			h.do(req{method: "GET", path: "/revocations"}).expectStatus(t, 401, "unauthorized")
		})
		t.Run("a cursor it did not hand out is refused", func(t *testing.T) {
			h.do(req{method: "GET", path: "/revocations?cursor=garbage!", token: caller}).expectStatus(t, 400, "invalid_value")
			h.do(req{method: "GET", path: "/revocations?since=1", token: caller}).expectStatus(t, 400, "invalid_value")
			h.do(req{method: "GET", path: "/revocations?limit=0", token: caller}).expectStatus(t, 400, "invalid_value")
		})
	})
}

func TestLastUsedIsRecordedInBatches(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember, "api-tokens", "customers")
		tok, id := h.mint(member, tokenSpec{scope: "api-tokens"})
		path := tokensPath(member) + "/" + id
		for i := 0; i < 20; i++ {
			h.do(req{method: "GET", path: path, token: tok}).expectStatus(t, 200, "")
		}
		stored, err := h.Store.Tokens.Get(context.Background(), member, id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastUsedAt != nil {
			t.Fatal("a use was written at once; uses must be batched")
		}
		if err := h.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := h.do(req{method: "GET", path: path, token: h.AdminToken}).attrs()
		used, err := time.Parse(time.RFC3339, a["lastUsedAt"].(string))
		if err != nil || time.Since(used) > time.Minute || time.Since(used) < 0 {
			t.Fatalf("lastUsedAt = %v", a["lastUsedAt"])
		}
		if a["lastUsedIp"] != "127.0.0.1" {
			t.Fatalf("lastUsedIp = %v", a["lastUsedIp"])
		}
		caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect})
		other, otherID := h.mint(member, tokenSpec{scope: "customers"})
		usedFrom := func() string {
			t.Helper()
			if err := h.Service.FlushUsage(context.Background()); err != nil {
				t.Fatal(err)
			}
			o, err := h.Store.Tokens.Get(context.Background(), member, otherID)
			if err != nil {
				t.Fatal(err)
			}
			return o.LastUsedIP
		}
		h.introspect(caller, url.Values{"token": {other}, "client_ip": {"198.51.100.4"}}).expectStatus(t, 200, "")
		if ip := usedFrom(); ip != "198.51.100.4" {
			t.Fatalf("after introspection, lastUsedIp = %q, want the client_ip it was given", ip)
		}
		h.do(req{method: "GET", path: "/auth", token: other}).expectStatus(t, 200, "")
		if ip := usedFrom(); ip != "127.0.0.1" {
			t.Fatalf("after forward-auth, lastUsedIp = %q, want 127.0.0.1", ip)
		}
		o, _ := h.Store.Tokens.Get(context.Background(), member, otherID)
		if o.LastUsedAt == nil {
			t.Fatal("introspection and forward-auth did not record a use")
		}
	})
}

// TestARefusedCheckRecordsNoUse checks that only a token found good for a
// request moves its lastUsedAt: a 403 for a missing scope does not.
func TestARefusedCheckRecordsNoUse(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	tok, id := h.mint(member, tokenSpec{scope: "customers"})
	lastUsed := func() *time.Time {
		t.Helper()
		if err := h.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		stored, err := h.Store.Tokens.Get(context.Background(), member, id)
		if err != nil {
			t.Fatal(err)
		}
		return stored.LastUsedAt
	}
	h.do(req{method: "GET", path: "/auth?scope=payments", token: tok}).expectStatus(t, 403, "forbidden")
	h.do(req{method: "GET", path: tokensPath(member), token: tok}).expectStatus(t, 403, "forbidden")
	h.introspect(tok, url.Values{"token": {tok}}).expectStatus(t, 403, "forbidden")
	if at := lastUsed(); at != nil {
		t.Fatalf("refused checks recorded a use at %v", at)
	}
	h.do(req{method: "GET", path: "/auth?scope=customers", token: tok}).expectStatus(t, 200, "")
	if lastUsed() == nil {
		t.Fatal("a check that passed recorded no use")
	}
}
