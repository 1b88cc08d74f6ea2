package httpapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

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
