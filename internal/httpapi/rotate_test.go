package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// rotatePath returns the rotation path of one of a user's tokens.
func rotatePath(userID, tokenID string) string { return tokenPath(userID, tokenID) + "/rotate" }

// rotationBody returns a rotation document with the given attributes.
func rotationBody(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "apiTokenRotation", "attributes": attrs}}
}

// rotate rotates the user's token with the caller's token; attrs nil sends
// no body.
func (h *harness) rotate(caller, userID, tokenID string, attrs map[string]any) *response {
	var body any
	if attrs != nil {
		body = rotationBody(attrs)
	}
	return h.do(req{method: "POST", path: rotatePath(userID, tokenID), token: caller, body: body})
}

// mustRotate rotates the token and returns the new token's attributes,
// its id and its token string.
func mustRotate(t *testing.T, h *harness, caller, userID, tokenID string, attrs map[string]any) (map[string]any, string, string) {
	t.Helper()
	r := h.rotate(caller, userID, tokenID, attrs)
	r.expectStatus(t, http.StatusCreated, "")
	id := r.data()["id"].(string)
	if loc := r.Header.Get("Location"); loc != h.URL+tokenPath(userID, id) {
		t.Fatalf("Location = %q, want the new token's", loc)
	}
	raw, _ := r.attrs()["token"].(string)
	if raw == "" {
		t.Fatal("the rotation's answer has no token string")
	}
	return r.attrs(), id, raw
}

// fromNow returns the time d from the server's clock, as tokend writes
// times, in whole seconds.
func (h *harness) fromNow(d time.Duration) string {
	return apiTime(h.Clock.Now().Add(d).Truncate(time.Second))
}

// authStatus is the forward-auth status of the token with scope customers.
func (h *harness) authStatus(token string) int {
	return h.do(req{method: "GET", path: "/auth?scope=customers", token: token}).StatusCode
}

// apiTimeOf parses a time attribute.
func apiTimeOf(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%v is not a time: %v", v, err)
	}
	return at
}

func TestRotateToken(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		resources := []apitoken.Resource{{Type: "account", IDs: []string{"1", "2"}}}
		// lifetime is the lifetime of the tokens minted here, a day.
		const lifetime = 24 * time.Hour

		t.Run("the new token copies the old one and the old one retires at once", func(t *testing.T) {
			h := h.on(t)
			old, oldID := h.mint(member, tokenSpec{scope: "customers accounts", sourceIP: "127.0.0.0/8", resources: resources})
			before := getTokenAttrs(t, h, member, oldID)
			a, id, raw := mustRotate(t, h, h.AdminToken, member, oldID, nil)
			for _, name := range []string{"description", "scope", "sourceIp", "resources"} {
				if !jsonEqual(a[name], before[name]) {
					t.Errorf("%s = %v, want the old token's %v", name, a[name], before[name])
				}
			}
			if a["rotatedFrom"] != oldID || a["status"] != "active" {
				t.Errorf("rotatedFrom = %v, status %v; want %s, active", a["rotatedFrom"], a["status"], oldID)
			}
			// The old token's lifetime again, from now, to the second.
			if exp := apiTimeOf(t, a["expiration"]); exp.Sub(h.Clock.Now().Add(lifetime)).Abs() > 2*time.Second {
				t.Errorf("expiration = %v, want about %v", exp, h.Clock.Now().Add(lifetime))
			}
			o := getTokenAttrs(t, h, member, oldID)
			if o["rotatedTo"] != id || o["status"] != "expired" {
				t.Errorf("the old token: rotatedTo = %v, status %v; want %s, expired", o["rotatedTo"], o["status"], id)
			}
			if s := h.authStatus(old); s != http.StatusUnauthorized {
				t.Errorf("the old token answers %d, want 401", s)
			}
			if s := h.authStatus(raw); s != http.StatusOK {
				t.Errorf("the new token answers %d, want 200", s)
			}
			if got := getTokenAttrs(t, h, member, id); got["token"] != nil {
				t.Error("reading the new token shows its token string")
			}
		})

		t.Run("the old token keeps working through its grace window", func(t *testing.T) {
			h := h.on(t)
			old, oldID := h.mint(member, tokenSpec{scope: "customers"})
			grace := h.Clock.Now().Add(time.Hour).Truncate(time.Second)
			_, _, raw := mustRotate(t, h, h.AdminToken, member, oldID, map[string]any{"previousExpiration": apiTime(grace)})
			if o := getTokenAttrs(t, h, member, oldID); o["expiration"] != apiTime(grace) || o["status"] != "active" {
				t.Fatalf("the old token: expiration %v, status %v; want %s, active", o["expiration"], o["status"], apiTime(grace))
			}
			// Uses of the new token do not end the grace window unless
			// asked.
			if h.authStatus(raw) != http.StatusOK || h.authStatus(old) != http.StatusOK {
				t.Fatal("during the grace window both tokens must work")
			}
			h.Clock.Advance(time.Hour + time.Second)
			if s := h.authStatus(old); s != http.StatusUnauthorized {
				t.Fatalf("after its grace window the old token answers %d, want 401", s)
			}
		})

		t.Run("the new token's first use retires the old one", func(t *testing.T) {
			h := h.on(t)
			old, oldID := h.mint(member, tokenSpec{scope: "customers"})
			_, newID, raw := mustRotate(t, h, h.AdminToken, member, oldID, map[string]any{
				"previousExpiration": h.fromNow(12 * time.Hour), "retirePreviousOnFirstUse": true})
			for range 3 {
				if h.authStatus(old) != http.StatusOK {
					t.Fatal("before the new token's first use the old one must work")
				}
			}
			// A refused use (a scope it lacks) is no successful use.
			h.do(req{method: "GET", path: "/auth?scope=payments", token: raw}).expectStatus(t, http.StatusForbidden, "forbidden")
			if h.authStatus(old) != http.StatusOK {
				t.Fatal("a refused use of the new token retired the old one")
			}
			used := h.Clock.Now()
			if h.authStatus(raw) != http.StatusOK {
				t.Fatal("the new token does not work")
			}
			if s := h.authStatus(old); s != http.StatusUnauthorized {
				t.Fatalf("after the new token's first use the old one answers %d, want 401", s)
			}
			if exp := apiTimeOf(t, getTokenAttrs(t, h, member, oldID)["expiration"]); exp.Sub(used).Abs() > time.Second {
				t.Fatalf("the old token expires at %v, want the new one's first use, %v", exp, used)
			}
			// The retirement, made by a read (GET /auth), is recorded as
			// the change of the new token's owner, by the new token.
			evs := eventsOf(t, h, h.AdminToken, "/audit-events?filter[targetId]="+oldID)
			last := evs[len(evs)-1]["attributes"].(map[string]any)
			if last["actorUserId"] != member || last["actorTokenId"] != newID {
				t.Errorf("the retirement's event: actor %v with %v, want %s with the new token %s",
					last["actorUserId"], last["actorTokenId"], member, newID)
			}
			if h.authStatus(raw) != http.StatusOK {
				t.Fatal("the new token stopped working")
			}
		})

		t.Run("a token renews itself with its own lifetime again", func(t *testing.T) {
			h := h.on(t)
			self, selfID := h.mint(member, tokenSpec{scope: "customers api-tokens-write"})
			a, _, raw := mustRotate(t, h, self, member, selfID, nil)
			if exp := apiTimeOf(t, a["expiration"]); exp.Sub(h.Clock.Now().Add(lifetime)).Abs() > 2*time.Second {
				t.Errorf("expiration = %v, want the token's lifetime from now", exp)
			}
			// Asking for more than its lifetime is escalation.
			_, againID, again := mustRotate(t, h, raw, member, getTokenAttrs(t, h, member, selfID)["rotatedTo"].(string), map[string]any{})
			r := h.rotate(again, member, againID, map[string]any{"expiration": h.fromNow(3 * lifetime)})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
			expectSources(t, r, attrPointers("expiration")...)
			// Without api-tokens-write a token cannot renew itself.
			narrow, narrowID := h.mint(member, tokenSpec{scope: "customers"})
			h.rotate(narrow, member, narrowID, nil).expectStatus(t, http.StatusForbidden, "forbidden")
		})

		t.Run("another token of the user grants no more time than it has", func(t *testing.T) {
			h := h.on(t)
			_, longID := h.mint(member, tokenSpec{scope: "customers", expiration: h.Clock.Now().Add(30 * 24 * time.Hour)})
			callerExp := h.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
			caller, _ := h.mint(member, tokenSpec{scope: "customers api-tokens-write", expiration: callerExp})
			r := h.rotate(caller, member, longID, map[string]any{"expiration": h.fromNow(10 * 24 * time.Hour)})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
			expectSources(t, r, attrPointers("expiration")...)
			// By default, the new token expires with the caller.
			a, _, _ := mustRotate(t, h, caller, member, longID, nil)
			if a["expiration"] != apiTime(callerExp) {
				t.Fatalf("expiration = %v, want the caller's %s", a["expiration"], apiTime(callerExp))
			}
		})

		t.Run("a disabled token is replaced by an enabled one", func(t *testing.T) {
			h := h.on(t)
			_, oldID := h.mint(member, tokenSpec{scope: "customers"})
			mustPatchToken(t, h, member, oldID, map[string]any{"enabled": false})
			a, _, raw := mustRotate(t, h, h.AdminToken, member, oldID, nil)
			if a["enabled"] != true || h.authStatus(raw) != http.StatusOK {
				t.Fatalf("the new token: enabled %v", a["enabled"])
			}
		})

		t.Run("scopes the user may no longer hold are dropped", func(t *testing.T) {
			h := h.on(t)
			narrowed := h.user(apitoken.RoleMember, "customers", "accounts")
			_, oldID := h.mint(narrowed, tokenSpec{scope: "customers accounts"})
			h.do(req{method: "PATCH", path: "/users/" + narrowed, token: h.AdminToken,
				body: userPatchBody(narrowed, map[string]any{"scopes": "accounts"})}).expectStatus(t, http.StatusOK, "")
			if a, _, _ := mustRotate(t, h, h.AdminToken, narrowed, oldID, nil); a["scope"] != "accounts" {
				t.Fatalf("scope = %v, want accounts", a["scope"])
			}
		})

		t.Run("revoked, expired and rotated tokens are conflicts", func(t *testing.T) {
			h := h.on(t)
			_, revoked := h.mint(member, tokenSpec{scope: "customers"})
			h.do(req{method: "DELETE", path: tokenPath(member, revoked), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
			_, rotated := h.mint(member, tokenSpec{scope: "customers"})
			mustRotate(t, h, h.AdminToken, member, rotated, nil)
			_, expired := h.mint(member, tokenSpec{scope: "customers", expiration: h.Clock.Now().Add(time.Minute)})
			h.Clock.Advance(2 * time.Minute)
			for _, id := range []string{revoked, rotated, expired} {
				before := countTokens(t, h, member)
				h.rotate(h.AdminToken, member, id, nil).expectStatus(t, http.StatusConflict, "conflict")
				if countTokens(t, h, member) != before {
					t.Fatal("a refused rotation created a token")
				}
			}
		})
	})
}

// TestRotateTokenRefusesBadRequests checks that every bad rotation request
// is refused with a pointer to its fault, and changes nothing.
func TestRotateTokenRefusesBadRequests(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		other := h.user(apitoken.RoleMember)
		memberToken, _ := h.mint(member, tokenSpec{scope: "api-tokens-write"})
		_, id := h.mint(member, tokenSpec{scope: "customers", expiration: h.Clock.Now().Add(2 * 24 * time.Hour)})
		_, otherID := h.mint(other, tokenSpec{scope: "customers"})
		for _, tc := range []struct {
			name   string
			caller string
			path   string
			body   any
			status int
			code   string
			source []string
		}{
			{"a grace of more than 7 days", h.AdminToken, rotatePath(member, id),
				rotationBody(map[string]any{"previousExpiration": h.fromNow(8 * 24 * time.Hour)}), 400, "invalid_value", attrPointers("previousExpiration")},
			{"a grace past the token's own expiration", h.AdminToken, rotatePath(member, id),
				rotationBody(map[string]any{"previousExpiration": h.fromNow(3 * 24 * time.Hour)}), 400, "invalid_value", attrPointers("previousExpiration")},
			{"a grace in the past", h.AdminToken, rotatePath(member, id),
				rotationBody(map[string]any{"previousExpiration": h.fromNow(-time.Hour)}), 400, "invalid_value", attrPointers("previousExpiration")},
			{"every bad attribute at once", h.AdminToken, rotatePath(member, id),
				rotationBody(map[string]any{"expiration": h.fromNow(-time.Hour), "previousExpiration": "soon", "retirePreviousOnFirstUse": "yes", "scope": "x"}),
				400, "invalid_value", attrPointers("expiration", "previousExpiration", "retirePreviousOnFirstUse", "scope")},
			{"an expiration past the maximum lifetime", h.AdminToken, rotatePath(member, id),
				rotationBody(map[string]any{"expiration": h.fromNow(400 * 24 * time.Hour)}), 400, "invalid_value", attrPointers("expiration")},
			{"another resource type", h.AdminToken, rotatePath(member, id),
				map[string]any{"data": map[string]any{"type": "apiToken", "attributes": map[string]any{}}}, 409, "conflict", []string{"/data/type"}},
			{"a client-chosen id", h.AdminToken, rotatePath(member, id),
				map[string]any{"data": map[string]any{"type": "apiTokenRotation", "id": "x"}}, 403, "forbidden", []string{"/data/id"}},
			{"a query parameter", h.AdminToken, rotatePath(member, id) + "?force=true", nil, 400, "invalid_value", []string{"?force"}},
			{"a member rotating another user's token", memberToken, rotatePath(other, otherID), nil, 403, "forbidden", []string{""}},
			{"a token of another user", h.AdminToken, rotatePath(member, otherID), nil, 404, "not_found", []string{""}},
			{"an unknown token", h.AdminToken, rotatePath(member, "not-an-id"), nil, 404, "not_found", []string{""}},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				h := h.on(t)
				before := countTokens(t, h, member)
				r := h.do(req{method: "POST", path: tc.path, token: tc.caller, body: tc.body})
				r.expectStatus(t, tc.status, tc.code)
				expectSources(t, r, tc.source...)
				if countTokens(t, h, member) != before {
					t.Fatal("a refused rotation created a token")
				}
				if a := getTokenAttrs(t, h, member, id); a["rotatedTo"] != nil || a["status"] != "active" {
					t.Fatalf("a refused rotation changed the token: %v", a)
				}
			})
		}
	})
}

// TestRotationAtTheCapOfLiveTokens checks that a user holding the most
// live tokens allowed can rotate one that retires at once, but not keep
// both through a grace window.
func TestRotationAtTheCapOfLiveTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{env: map[string]string{"TOKEND_MAX_TOKENS_PER_USER": "2"}})
	member := h.user(apitoken.RoleMember)
	_, a := h.mint(member, tokenSpec{scope: "customers"})
	h.mint(member, tokenSpec{scope: "customers"})
	r := h.rotate(h.AdminToken, member, a, map[string]any{"previousExpiration": h.fromNow(time.Hour)})
	r.expectStatus(t, http.StatusConflict, "conflict")
	if got := getTokenAttrs(t, h, member, a); got["rotatedTo"] != nil || got["status"] != "active" {
		t.Fatalf("a refused rotation changed the old token: %v", got)
	}
	_, id, _ := mustRotate(t, h, h.AdminToken, member, a, nil)
	list := h.do(req{method: "GET", path: tokensPath(member) + "?filter[status]=active", token: h.AdminToken})
	if ids := idsOf(list); len(ids) != 2 || !slices.Contains(ids, id) {
		t.Fatalf("active tokens %v, want 2 with the new one", ids)
	}
}

// jsonEqual reports whether two decoded JSON values are equal.
func jsonEqual(a, b any) bool {
	return string(mustMarshal(a)) == string(mustMarshal(b))
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
