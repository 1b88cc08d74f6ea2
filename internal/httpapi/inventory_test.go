package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
)

// useFrom makes a request with the token from the address, behind the
// trusted proxy, with the user agent.
func (h *harness) useFrom(token, addr, userAgent string) {
	h.t.Helper()
	h.do(req{method: "GET", path: "/auth", token: token,
		header: http.Header{"X-Forwarded-For": {addr}, "User-Agent": {userAgent}}}).expectStatus(h.t, http.StatusOK, "")
}

func TestInventoryFilters(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, options{trustedProxies: "127.0.0.1/32"}, func(t *testing.T, h *harness) {
		t.Parallel()
		member := h.user(apitoken.RoleMember)
		now := h.Clock.Now()
		// Created in this order: soon, unused, used, leaked, writer.
		_, soon := h.mint(member, tokenSpec{scope: "customers", expiration: now.Add(time.Hour)})
		_, unused := h.mint(member, tokenSpec{scope: "customers accounts"})
		used, usedID := h.mint(member, tokenSpec{scope: "accounts"})
		leaked, leakedID := h.mint(member, tokenSpec{scope: "customers"})
		_, writer := h.mint(member, tokenSpec{scope: "api-tokens-write customers-write"})
		h.useFrom(used, "198.51.100.1", "ci/1.0")
		if err := h.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := h.Service.ReportLeaks(ctx, []service.LeakReport{{Token: leaked, Leak: apitoken.Leak{URL: "https://example.com"}}}); err != nil {
			t.Fatal(err)
		}
		all := "filter[status]=active,revoked"
		for _, tc := range []struct {
			name  string
			query string
			want  []string
		}{
			{"expiring within two hours", "filter[expiresBefore]=" + url.QueryEscape(apiTime(now.Add(2*time.Hour))), []string{soon}},
			{"unused since a minute ago, never used included", all + "&filter[lastUsedBefore]=" + url.QueryEscape(apiTime(now.Add(-time.Minute))),
				[]string{soon, unused, leakedID, writer}},
			{"leaked", all + "&filter[leaked]=true", []string{leakedID}},
			{"not leaked", all + "&filter[leaked]=false", []string{soon, unused, usedID, writer}},
			{"holding customers, not customers-write", all + "&filter[scope]=customers", []string{soon, unused, leakedID}},
			{"leaked tokens are revoked, so not listed by default", "filter[leaked]=true", nil},
			{"every filter at once", "filter[scope]=customers&filter[leaked]=false&filter[lastUsedBefore]=" + url.QueryEscape(apiTime(now)) +
				"&filter[expiresBefore]=" + url.QueryEscape(apiTime(now.Add(48*time.Hour))), []string{soon, unused}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				keep, _ := url.ParseQuery(tc.query)
				path := tokensPath(member)
				// A page of one, then the rest by cursor.
				var got []string
				next := path + "?" + tc.query + "&page[limit]=1"
				for i := 0; next != ""; i++ {
					r := h.do(req{method: "GET", path: next, token: h.AdminToken})
					r.expectStatus(t, http.StatusOK, "")
					p := pageOf(t, r)
					if p.total != len(tc.want) {
						t.Fatalf("page %d: total %d, want %d", i, p.total, len(tc.want))
					}
					got = append(got, idsOf(r)...)
					next = ""
					if p.links["next"] != nil {
						cursor := linkCursor(t, h, p, "next", path, 1, keep, "page[after]")
						next = path + "?" + tc.query + "&page[limit]=1&page[after]=" + cursor
					}
					if i > len(tc.want)+1 {
						t.Fatal("the pages do not end")
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("listed %v, want %v", got, tc.want)
				}
				// And by offset, with its total.
				r := h.do(req{method: "GET", path: path + "?" + tc.query + "&page[offset]=1&page[limit]=2", token: h.AdminToken})
				want := tc.want[min(1, len(tc.want)):min(3, len(tc.want))]
				if ids := idsOf(r); !slices.Equal(ids, want) || pageOf(t, r).total != len(tc.want) {
					t.Fatalf("at offset 1: %v of %d, want %v of %d", ids, pageOf(t, r).total, want, len(tc.want))
				}
			})
		}
		t.Run("every user's list takes them too", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/api-tokens?filter[scope]=customers-write&filter[userId]=" + member, token: h.AdminToken})
			r.expectStatus(t, http.StatusOK, "")
			if ids := idsOf(r); !slices.Equal(ids, []string{writer}) || pageOf(t, r).total != 1 {
				t.Fatalf("listed %v, want the writer alone", ids)
			}
		})
	})
}

func TestInventoryFiltersRefuseBadValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	for _, tc := range []struct{ query, param string }{
		{"filter[expiresBefore]=tomorrow", "filter[expiresBefore]"},
		{"filter[lastUsedBefore]=2027-07-01T13:47:17,000Z", "filter[lastUsedBefore]"},
		{"filter[leaked]=yes", "filter[leaked]"},
		{"filter[scope]=customers%20accounts", "filter[scope]"},
		{"filter[scope]=", "filter[scope]"},
	} {
		t.Run(tc.query+" is refused", func(t *testing.T) {
			r := h.on(t).do(req{method: "GET", path: tokensPath(member) + "?" + tc.query, token: h.AdminToken})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
			expectSources(t, r, "?"+tc.param)
		})
	}
}

func TestRecentClients(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, options{trustedProxies: "127.0.0.1/32"}, func(t *testing.T, h *harness) {
		t.Parallel()
		member := h.user(apitoken.RoleMember)
		tok, id := h.mint(member, tokenSpec{scope: "customers"})
		// Seven uses from six addresses, in two flushes; the first
		// address comes back with another user agent.
		for i := range 4 {
			h.useFrom(tok, "192.0.2."+strconv.Itoa(i+1), "agent/"+strconv.Itoa(i+1))
			h.Clock.Advance(time.Second)
		}
		if err := h.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a := getTokenAttrs(t, h, member, id); len(a["recentClients"].([]any)) != 4 {
			t.Fatalf("recentClients after the first flush: %v", a["recentClients"])
		}
		for _, addr := range []string{"2001:db8::5", "192.0.2.6", "192.0.2.1"} {
			h.useFrom(tok, addr, "later")
			h.Clock.Advance(time.Second)
		}
		if err := h.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := getTokenAttrs(t, h, member, id)
		clients, _ := a["recentClients"].([]any)
		var got []string
		for _, c := range clients {
			m := c.(map[string]any)
			got = append(got, m["ip"].(string)+" "+m["userAgent"].(string))
		}
		want := []string{"192.0.2.1 later", "192.0.2.6 later", "2001:db8::5 later", "192.0.2.4 agent/4", "192.0.2.3 agent/3"}
		if !slices.Equal(got, want) {
			t.Fatalf("recentClients = %v, want %v", got, want)
		}
		if first := clients[0].(map[string]any); first["usedAt"] != a["lastUsedAt"] || a["lastUsedIp"] != "192.0.2.1" {
			t.Fatalf("the newest client %v does not match lastUsedAt %v, lastUsedIp %v", first, a["lastUsedAt"], a["lastUsedIp"])
		}
	})
}
