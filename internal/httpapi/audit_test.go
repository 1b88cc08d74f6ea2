package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/verifier"
)

// eventsOf lists audit events at path (with its query) as the caller, all
// of them, following the links, and returns their resources.
func eventsOf(t *testing.T, h *harness, caller, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for path != "" {
		r := h.do(req{method: "GET", path: path, token: caller})
		r.expectStatus(t, http.StatusOK, "")
		out = append(out, r.list()...)
		next, _ := r.doc()["links"].(map[string]any)["next"].(string)
		path = strings.TrimPrefix(next, h.URL)
	}
	return out
}

// actions returns the events' actions, in order.
func actions(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, e["attributes"].(map[string]any)["action"].(string))
	}
	return out
}

func TestAuditEventsRecordTheAPIsChanges(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		adminTokenID := verifierID(t, h, h.AdminToken)
		r := h.do(req{method: "POST", path: "/users", token: h.AdminToken,
			body: userBody(map[string]any{"email": "audited@example.com", "role": "member"})})
		r.expectStatus(t, http.StatusCreated, "")
		member := r.data()["id"].(string)
		tokID, raw := mustCreateToken(t, h, member, validAttrs())
		mustPatchToken(t, h, member, tokID, map[string]any{"description": "renamed"})
		_, newID, newRaw := mustRotate(t, h, h.AdminToken, member, tokID, nil)
		h.do(req{method: "DELETE", path: tokenPath(member, newID), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		reader, _ := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})

		evs := eventsOf(t, h, reader, "/users/"+member+"/audit-events?page[limit]=2")
		want := []string{"user.created", "apiToken.created", "apiToken.updated", "apiToken.rotated", "apiToken.created",
			"apiToken.revoked", "apiToken.created"}
		if got := strings.Join(actions(evs), " "); got != strings.Join(want, " ") {
			t.Fatalf("the member's events: %s\nwant %s", got, strings.Join(want, " "))
		}
		for _, e := range evs[:6] {
			a := e["attributes"].(map[string]any)
			if a["actorUserId"] != h.AdminID || a["actorTokenId"] != adminTokenID || a["sourceIp"] != "127.0.0.1" ||
				!strings.HasPrefix(a["userAgent"].(string), "Go-http-client/") || a["userId"] != member {
				t.Fatalf("event %v: want the admin's token from 127.0.0.1 acting on the member", a)
			}
		}
		// The last token was minted on the command line's path, with no
		// actor.
		if a := evs[6]["attributes"].(map[string]any); a["actorUserId"] != nil || a["actorTokenId"] != nil {
			t.Fatalf("an event with no actor names one: %v", a)
		}
		upd := evs[2]["attributes"].(map[string]any)["changes"].(map[string]any)["description"].(map[string]any)
		if upd["old"] != "Production token" || upd["new"] != "renamed" {
			t.Fatalf("the update's changes: %v", upd)
		}
		rot := evs[3]["attributes"].(map[string]any)
		if rot["targetId"] != tokID || rot["changes"].(map[string]any)["rotatedTo"].(map[string]any)["new"] != newID {
			t.Fatalf("the rotation's event: %v", rot)
		}
		// No token string anywhere in the log.
		all := h.do(req{method: "GET", path: "/audit-events?page[limit]=1000", token: h.AdminToken})
		all.expectStatus(t, http.StatusOK, "")
		for _, secret := range []string{raw, newRaw, h.AdminToken, reader} {
			if strings.Contains(string(all.Body), secret) {
				t.Fatal("the audit log holds a token")
			}
		}
		if total := all.doc()["meta"].(map[string]any)["pagination"].(map[string]any)["total"].(float64); int(total) != len(all.list()) || total < 8 {
			t.Fatalf("total %v for %d events", total, len(all.list()))
		}
	})
}

// verifierID returns the id (jti) of a token.
func verifierID(t *testing.T, h *harness, raw string) string {
	t.Helper()
	c, err := verifier.ParseUnchecked(raw, h.Ring)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestAuditEventListsFilterAndPage(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		var ids []string
		for range 5 {
			id, _ := mustCreateToken(t, h, member, validAttrs())
			ids = append(ids, id)
		}
		mustPatchToken(t, h, member, ids[2], map[string]any{"enabled": false})
		base := "/users/" + member + "/audit-events"
		tests := []struct {
			name, query string
			want        int
		}{
			{"by action", "filter[action]=apiToken.updated", 1},
			{"by several actions", "filter[action]=apiToken.updated,user.created", 2},
			{"by target", "filter[targetId]=" + ids[2], 2},
			{"by actor", "filter[actorUserId]=" + h.AdminID, 6},
			{"since a time to come", "filter[since]=" + url.QueryEscape(h.fromNow(24*60*60*1e9)), 0},
			{"until a time to come", "filter[until]=" + url.QueryEscape(h.fromNow(24*60*60*1e9)), 7},
			{"newest first", "sort=-occurredAt", 7},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				evs := eventsOf(t, h, h.AdminToken, base+"?page[limit]=3&"+tt.query)
				if len(evs) != tt.want {
					t.Fatalf("%d events, want %d: %v", len(evs), tt.want, actions(evs))
				}
			})
		}
		t.Run("newest first is the reverse of the log", func(t *testing.T) {
			up := eventsOf(t, h, h.AdminToken, base+"?page[limit]=2")
			down := eventsOf(t, h, h.AdminToken, base+"?page[limit]=2&sort=-occurredAt")
			for i := range up {
				if up[i]["id"] != down[len(down)-1-i]["id"] {
					t.Fatalf("event %d: %v, reversed %v", i, up[i]["id"], down[len(down)-1-i]["id"])
				}
			}
		})
		t.Run("pages by offset", func(t *testing.T) {
			r := h.do(req{method: "GET", path: base + "?page[limit]=2&page[offset]=4", token: h.AdminToken})
			r.expectStatus(t, http.StatusOK, "")
			p := r.doc()["meta"].(map[string]any)["pagination"].(map[string]any)
			if len(r.list()) != 2 || p["total"] != 7.0 || p["offset"] != 4.0 {
				t.Fatalf("page %d events, pagination %v", len(r.list()), p)
			}
		})
		t.Run("back from a cursor", func(t *testing.T) {
			r := h.do(req{method: "GET", path: base + "?page[limit]=3", token: h.AdminToken})
			next := strings.TrimPrefix(r.doc()["links"].(map[string]any)["next"].(string), h.URL)
			r2 := h.do(req{method: "GET", path: next, token: h.AdminToken})
			prev := strings.TrimPrefix(r2.doc()["links"].(map[string]any)["prev"].(string), h.URL)
			back := h.do(req{method: "GET", path: prev, token: h.AdminToken})
			back.expectStatus(t, http.StatusOK, "")
			if len(back.list()) != 3 || back.list()[0]["id"] != r.list()[0]["id"] {
				t.Fatalf("the page before the second is not the first")
			}
		})
	})
}

func TestAuditEventListsRefuseBadRequests(t *testing.T) {
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	other := h.user(apitoken.RoleMember)
	memberToken, _ := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
	noScope, _ := h.mint(member, tokenSpec{scope: "customers"})
	tests := []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"a member reading the whole log", "/audit-events", memberToken, 403, "forbidden"},
		{"a member reading another's log", "/users/" + other + "/audit-events", memberToken, 403, "forbidden"},
		{"a token without api-tokens", "/users/" + member + "/audit-events", noScope, 403, "forbidden"},
		{"an unknown user", "/users/00000000-0000-7000-8000-000000000000/audit-events", h.AdminToken, 404, "not_found"},
		{"an unknown action", "/audit-events?filter[action]=apiToken.stolen", h.AdminToken, 400, "invalid_value"},
		{"a bad time", "/audit-events?filter[since]=yesterday", h.AdminToken, 400, "invalid_value"},
		{"a token list's sort", "/audit-events?sort=createdAt", h.AdminToken, 400, "invalid_value"},
		{"a token list's cursor", "/audit-events?page[after]=MTIzLmFiYw", h.AdminToken, 400, "invalid_value"},
		{"a token list's filter", "/audit-events?filter[status]=active", h.AdminToken, 400, "invalid_value"},
		{"no token", "/audit-events", "", 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.on(t)
			h.do(req{method: "GET", path: tt.path, token: tt.token}).expectStatus(t, tt.status, tt.code)
		})
	}
	t.Run("the log is read-only", func(t *testing.T) {
		r := h.on(t).do(req{method: "DELETE", path: "/audit-events", token: h.AdminToken})
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("DELETE /audit-events: %d", r.StatusCode)
		}
	})
}

func TestRefusedAuthenticationsAreAggregated(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		member := h.user(apitoken.RoleMember)
		revoked, revokedID := h.mint(member, tokenSpec{scope: "customers"})
		h.do(req{method: "DELETE", path: tokenPath(member, revokedID), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		for range 3 {
			h.do(req{method: "GET", path: tokensPath(member), token: revoked}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
		}
		h.do(req{method: "GET", path: tokensPath(member), token: "v2.public.garbage"}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
		h.do(req{method: "GET", path: tokensPath(member)}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
		h.App.FlushRefusals(context.Background())
		evs := eventsOf(t, h, h.AdminToken, "/audit-events?filter[action]=auth.refused")
		got := map[string]string{}
		for _, e := range evs {
			a := e["attributes"].(map[string]any)
			if a["sourceIp"] != "127.0.0.1" || a["targetType"] != "authentication" {
				t.Fatalf("refusal event %v", a)
			}
			ch := a["changes"].(map[string]any)
			got[a["targetId"].(string)] = fmt.Sprint(ch["count"].(map[string]any)["new"])
			if ch["firstAt"] == nil || ch["lastAt"] == nil {
				t.Fatalf("refusal event without its first and last: %v", a)
			}
		}
		if got["revoked"] != "3" || got["missing_token"] != "1" || len(got) != 3 {
			t.Fatalf("refusals counted %v, want 3 revoked, 1 missing_token and the garbage token's", got)
		}
		// Nothing left to flush.
		h.App.FlushRefusals(context.Background())
		if n := len(eventsOf(t, h, h.AdminToken, "/audit-events?filter[action]=auth.refused")); n != len(evs) {
			t.Fatalf("a second flush appended %d events", n-len(evs))
		}
	})
}

func TestRefusalsAreFlushedAtShutdown(t *testing.T) {
	dbURL := dbtest.NewURL(t, store.SQLite)
	srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: dbURL})
	r, err := http.Get(srv.URL + "/users/" + srv.AdminID + "/api-tokens")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	srv.Close()
	page, err := srv.Store.ListEvents(context.Background(), audit.Filter{Actions: []audit.Action{audit.AuthRefused}, Limit: 10})
	if err != nil || len(page.Events) != 1 || page.Events[0].TargetID != "missing_token" {
		t.Fatalf("after shutdown: %+v, %v; want the refusal flushed", page.Events, err)
	}
}
