package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// page is a list response's pagination: meta.pagination and the links.
type page struct {
	// offset is -1 on a page by cursor, which has none.
	limit, offset, total int
	links                map[string]any
}

// pageOf returns the pagination of a list response.
func pageOf(t *testing.T, r *response) page {
	t.Helper()
	doc := r.doc()
	meta, _ := doc["meta"].(map[string]any)
	p, ok := meta["pagination"].(map[string]any)
	if !ok {
		t.Fatalf("list has no meta.pagination: %s", r.Body)
	}
	num := func(k string) int {
		if _, ok := p[k]; !ok && k == "offset" {
			return -1
		}
		f, ok := p[k].(float64)
		if !ok {
			t.Fatalf("meta.pagination.%s = %v, want a number", k, p[k])
		}
		return int(f)
	}
	links, _ := doc["links"].(map[string]any)
	return page{limit: num("limit"), offset: num("offset"), total: num("total"), links: links}
}

// linkOffset checks that the named link of a list is an absolute URL of the
// list at path with the page's limit and the kept query parameters, and
// returns its page[offset]. A null link yields -1.
func linkOffset(t *testing.T, h *harness, p page, name, path string, limit int, keep url.Values) int {
	t.Helper()
	v, present := p.links[name]
	if !present {
		t.Fatalf("links.%s missing: %v", name, p.links)
	}
	if v == nil {
		return -1
	}
	u, err := url.Parse(v.(string))
	if err != nil || u.Scheme+"://"+u.Host != h.URL || u.Path != path {
		t.Fatalf("links.%s = %q, want an absolute URL of %s%s", name, v, h.URL, path)
	}
	q := u.Query()
	if q.Get("page[limit]") != strconv.Itoa(limit) {
		t.Fatalf("links.%s = %q, want page[limit]=%d", name, v, limit)
	}
	for k := range keep {
		if q.Get(k) != keep.Get(k) {
			t.Fatalf("links.%s = %q, want %s=%s kept", name, v, k, keep.Get(k))
		}
	}
	if len(q) != 2+len(keep) {
		t.Fatalf("links.%s = %q has parameters beyond page[limit], page[offset] and %v", name, v, keep)
	}
	off, err := strconv.Atoi(q.Get("page[offset]"))
	if err != nil {
		t.Fatalf("links.%s = %q has no page[offset]", name, v)
	}
	return off
}

// linkCursor checks that the page's link is an absolute URL of path with
// page[limit], the parameters in keep and, unless param is "", a cursor
// in param, and returns the cursor.
func linkCursor(t *testing.T, h *harness, p page, name, path string, limit int, keep url.Values, param string) string {
	t.Helper()
	v, _ := p.links[name].(string)
	u, err := url.Parse(v)
	if err != nil || v == "" || u.Scheme+"://"+u.Host != h.URL || u.Path != path {
		t.Fatalf("links.%s = %q, want an absolute URL of %s%s", name, v, h.URL, path)
	}
	q := u.Query()
	want := url.Values{"page[limit]": {strconv.Itoa(limit)}}
	for k, vs := range keep {
		want[k] = vs
	}
	if param != "" {
		if q.Get(param) == "" {
			t.Fatalf("links.%s = %q, want a cursor in %s", name, v, param)
		}
		want[param] = q[param]
	}
	if !reflect.DeepEqual(map[string][]string(q), map[string][]string(want)) {
		t.Fatalf("links.%s = %q, want the parameters %v", name, v, want)
	}
	return q.Get(param)
}

// listFixture is a user's tokens in every status.
type listFixture struct {
	user                                                     string
	active1, active2, disabled, expired, expiredOff, revoked string
}

// newListFixture gives a new member tokens in every status. The expired
// ones were created hours ago, so creation order is expired, expiredOff,
// active1, active2, disabled, revoked.
func newListFixture(t *testing.T, h *harness) listFixture {
	t.Helper()
	f := listFixture{user: h.user(apitoken.RoleMember)}
	now := time.Now().UTC()
	past := func(created time.Duration) verifier.Claims {
		at := now.Add(-created).Truncate(time.Millisecond)
		return verifier.Claims{ID: uuid.Must(uuid.NewV7()).String(), IssuedAt: at, NotBefore: at, Expiration: now.Add(-time.Hour).Truncate(time.Millisecond)}
	}
	expired, expiredOff := past(3*time.Hour), past(2*time.Hour)
	h.forge(f.user, expired, nil)
	h.forge(f.user, expiredOff, func(t *apitoken.Token) { t.Enabled = false })
	f.expired, f.expiredOff = expired.ID, expiredOff.ID
	f.active1, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.active2, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.disabled, _ = mustCreateToken(t, h, f.user, validAttrs())
	f.revoked, _ = mustCreateToken(t, h, f.user, validAttrs())
	mustPatchToken(t, h, f.user, f.disabled, map[string]any{"enabled": false})
	h.do(req{method: "DELETE", path: tokenPath(f.user, f.revoked), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
	return f
}

// TestListTokensFiltersByStatus checks that a user's list leaves revoked
// tokens out unless filter[status] asks for them, that filter[status]
// selects exactly the statuses it lists, and that no list shows a token
// string.
func TestListTokensFiltersByStatus(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		f := newListFixture(t, h)
		status := map[string]string{
			f.active1: "active", f.active2: "active", f.disabled: "disabled",
			f.expired: "expired", f.expiredOff: "expired", f.revoked: "revoked",
		}
		for _, tc := range []struct {
			name, filter string
			want         []string
		}{
			{"no filter lists every token but the revoked one", "", []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled}},
			{"filter[status]=revoked lists only the revoked token", "revoked", []string{f.revoked}},
			{"filter[status]=active lists only active tokens", "active", []string{f.active1, f.active2}},
			{"filter[status]=disabled lists the disabled token but not the expired disabled one", "disabled", []string{f.disabled}},
			{"filter[status]=expired lists expired tokens, disabled or not", "expired", []string{f.expired, f.expiredOff}},
			{"filter[status]=active,disabled lists both", "active,disabled", []string{f.active1, f.active2, f.disabled}},
			{"filter[status]=revoked,active lists both", "revoked,active", []string{f.active1, f.active2, f.revoked}},
			{"filter[status]=expired,revoked lists both", "expired,revoked", []string{f.expired, f.expiredOff, f.revoked}},
			{"every status lists every token", "active,expired,disabled,revoked", []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled, f.revoked}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				path := tokensPath(f.user)
				if tc.filter != "" {
					path += "?filter[status]=" + tc.filter
				}
				r := h.do(req{method: "GET", path: path, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				if p := pageOf(t, r); p.total != len(tc.want) {
					t.Errorf("meta.pagination.total = %d, want %d", p.total, len(tc.want))
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				for _, d := range r.list() {
					a := d["attributes"].(map[string]any)
					if _, leaked := a["token"]; leaked {
						t.Errorf("token %s shows its token string in the list", d["id"])
					}
					if a["status"] != status[d["id"].(string)] {
						t.Errorf("token %s has status %v, want %s", d["id"], a["status"], status[d["id"].(string)])
					}
					if (a["status"] == "revoked") != (a["revokedAt"] != nil) {
						t.Errorf("token %s has status %v and revokedAt %v", d["id"], a["status"], a["revokedAt"])
					}
				}
			})
		}

		for _, bad := range []string{"gone", "", "active,", "Active", "active;revoked"} {
			t.Run(fmt.Sprintf("filter[status]=%q is refused", bad), func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				r := h.do(req{method: "GET", path: tokensPath(f.user) + "?filter[status]=" + url.QueryEscape(bad), token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, "?filter[status]")
			})
		}
	})
}

// TestListTokensSorts checks that lists are in creation order by default and
// with sort=createdAt, newest first with sort=-createdAt, and that other
// sorts are refused.
func TestListTokensSorts(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		f := newListFixture(t, h)
		oldest := []string{f.expired, f.expiredOff, f.active1, f.active2, f.disabled, f.revoked}
		newest := slices.Clone(oldest)
		slices.Reverse(newest)
		all := "filter[status]=active,expired,disabled,revoked"

		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"no sort lists the oldest first", all, oldest},
			{"sort=createdAt lists the oldest first", all + "&sort=createdAt", oldest},
			{"sort=-createdAt lists the newest first", all + "&sort=-createdAt", newest},
			{"sort=-createdAt pages from the newest", all + "&sort=-createdAt&page[limit]=2&page[offset]=2", newest[2:4]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := h.on(t).do(req{method: "GET", path: tokensPath(f.user) + "?" + tc.query, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				var times []string
				for _, d := range r.list() {
					times = append(times, d["attributes"].(map[string]any)["createdAt"].(string))
				}
				if strings.Contains(tc.query, "-createdAt") {
					slices.Reverse(times)
				}
				if !slices.IsSorted(times) {
					t.Errorf("createdAt values %v are not in the order asked for", times)
				}
			})
		}
		for _, bad := range []string{"description", "createdAt,-createdAt", "+createdAt", "created_at"} {
			t.Run(fmt.Sprintf("sort=%q is refused", bad), func(t *testing.T) {
				r := h.on(t).do(req{method: "GET", path: tokensPath(f.user) + "?sort=" + url.QueryEscape(bad), token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, "?sort")
			})
		}
	})
}

// TestListTokensPaginates checks page[limit] and page[offset], the
// pagination meta and the links between pages, and the refusal of bad,
// repeated and unknown query parameters.
func TestListTokensPaginates(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		// 101 tokens, one more than a default page, created a millisecond
		// apart in id order.
		start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		ids := make([]string, 101)
		for i := range ids {
			at := start.Add(time.Duration(i) * time.Millisecond)
			c := verifier.Claims{ID: uuid.Must(uuid.NewV7()).String(), IssuedAt: at, NotBefore: at, Expiration: at.Add(48 * time.Hour)}
			h.forge(user, c, nil)
			ids[i] = c.ID
		}
		newest := slices.Clone(ids)
		slices.Reverse(newest)
		path := tokensPath(user)

		for _, tc := range []struct {
			name, query            string
			keep                   url.Values
			limit, offset          int
			want                   []string
			prev, next, last       int // page offsets; -1 for a null link
			followNext, followPrev bool
			// cursorNext: links.next is a cursor (page[after]), not an offset.
			cursorNext bool
		}{
			{name: "no parameters give the first 100 tokens", limit: 100, want: ids[:100], prev: -1, next: 100, last: 100, followNext: true, cursorNext: true},
			{name: "page[limit]=40 gives the first 40", query: "page[limit]=40", limit: 40, want: ids[:40], prev: -1, next: 40, last: 80, followNext: true, cursorNext: true},
			{name: "the second page links back to the first", query: "page[limit]=40&page[offset]=40", limit: 40, offset: 40, want: ids[40:80], prev: 0, next: 80, last: 80, followNext: true, followPrev: true},
			{name: "the last page is short and has no next", query: "page[limit]=40&page[offset]=80", limit: 40, offset: 80, want: ids[80:], prev: 40, next: -1, last: 80, followPrev: true},
			{name: "an offset between pages links back to the start", query: "page[limit]=40&page[offset]=30", limit: 40, offset: 30, want: ids[30:70], prev: 0, next: 70, last: 80},
			{name: "page[limit]=1000 gives every token on one page", query: "page[limit]=1000", limit: 1000, want: ids, prev: -1, next: -1, last: 0},
			{name: "page[limit]=1 gives one token", query: "page[limit]=1&page[offset]=100", limit: 1, offset: 100, want: ids[100:], prev: 99, next: -1, last: 100},
			{name: "an offset past the end gives an empty page", query: "page[offset]=200", limit: 100, offset: 200, want: []string{}, prev: 100, next: -1, last: 100},
			{name: "links keep the sort", query: "sort=-createdAt&page[limit]=50", keep: url.Values{"sort": {"-createdAt"}}, limit: 50, want: newest[:50], prev: -1, next: 50, last: 100, followNext: true, cursorNext: true},
			{name: "links keep the status filter", query: "filter[status]=active&page[limit]=50&page[offset]=50", keep: url.Values{"filter[status]": {"active"}}, limit: 50, offset: 50, want: ids[50:100], prev: 0, next: 100, last: 100, followNext: true, followPrev: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				q := path
				if tc.query != "" {
					q += "?" + tc.query
				}
				r := h.do(req{method: "GET", path: q, token: h.AdminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				p := pageOf(t, r)
				if p.limit != tc.limit || p.offset != tc.offset || p.total != len(ids) {
					t.Errorf("meta.pagination = {limit %d offset %d total %d}, want {%d %d %d}", p.limit, p.offset, p.total, tc.limit, tc.offset, len(ids))
				}
				for _, l := range []struct {
					name string
					want int
				}{{"self", tc.offset}, {"first", 0}, {"prev", tc.prev}, {"next", tc.next}, {"last", tc.last}} {
					switch {
					case l.name == "next" && tc.cursorNext:
						linkCursor(t, h, p, l.name, path, tc.limit, tc.keep, "page[after]")
						continue
					}
					if got := linkOffset(t, h, p, l.name, path, tc.limit, tc.keep); got != l.want {
						t.Errorf("links.%s has page[offset] %d, want %d (-1: null)", l.name, got, l.want)
					}
				}
				follow := func(name string, want []string) {
					u, _ := url.Parse(p.links[name].(string))
					r := h.do(req{method: "GET", path: u.RequestURI(), token: h.AdminToken})
					r.expectStatus(t, http.StatusOK, "")
					if got := idsOf(r); !slices.Equal(got, want) {
						t.Errorf("following links.%s gives %v, want %v", name, got, want)
					}
				}
				order := ids
				if tc.keep.Get("sort") == "-createdAt" {
					order = newest
				}
				if tc.followNext {
					follow("next", order[tc.next:min(tc.next+tc.limit, len(order))])
				}
				if tc.followPrev {
					follow("prev", order[tc.prev:tc.prev+tc.limit])
				}
			})
		}

		for _, tc := range []struct {
			name, query string
			sources     []string
		}{
			{"page[limit]=0 is refused", "page[limit]=0", []string{"?page[limit]"}},
			{"page[limit]=1001 is refused", "page[limit]=1001", []string{"?page[limit]"}},
			{"page[limit]=-1 is refused", "page[limit]=-1", []string{"?page[limit]"}},
			{"page[limit]=x is refused", "page[limit]=x", []string{"?page[limit]"}},
			{"an empty page[limit] is refused", "page[limit]=", []string{"?page[limit]"}},
			{"page[offset]=-1 is refused", "page[offset]=-1", []string{"?page[offset]"}},
			{"page[offset]=x is refused", "page[offset]=x", []string{"?page[offset]"}},
			{"page[limit] given twice is refused", "page[limit]=10&page[limit]=20", []string{"?page[limit]"}},
			{"filter[status] given twice is refused", "filter[status]=active&filter[status]=revoked", []string{"?filter[status]"}},
			{"an unknown parameter is refused", "pagesize=10", []string{"?pagesize"}},
			{"page[size] is not Unit's convention and is refused", "page[size]=10", []string{"?page[size]"}},
			{"filter[userId] is refused on a user's list", "filter[userId]=" + user, []string{"?filter[userId]"}},
			{"a token in the query string is refused as a parameter", "access_token=x", []string{"?access_token"}},
			{"every bad parameter is reported at once", "page[limit]=0&page[offset]=x&color=red", []string{"?color", "?page[limit]", "?page[offset]"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				r := h.do(req{method: "GET", path: path + "?" + tc.query, token: h.AdminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, tc.sources...)
			})
		}
	})
}

// TestListTokensOfAUserWithoutTokens checks the empty list: no data, a
// total of 0 and no previous or next page.
func TestListTokensOfAUserWithoutTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	user := h.user(apitoken.RoleMember)
	r := h.do(req{method: "GET", path: tokensPath(user), token: h.AdminToken})
	r.expectStatus(t, http.StatusOK, "")
	if data, ok := r.doc()["data"].([]any); !ok || len(data) != 0 {
		t.Fatalf("data = %v, want an empty array", r.doc()["data"])
	}
	p := pageOf(t, r)
	if p.total != 0 || p.limit != 100 || p.offset != 0 {
		t.Errorf("meta.pagination = %+v, want total 0, limit 100, offset 0", p)
	}
	for name, want := range map[string]int{"self": 0, "first": 0, "last": 0, "prev": -1, "next": -1} {
		if got := linkOffset(t, h, p, name, tokensPath(user), 100, nil); got != want {
			t.Errorf("links.%s has page[offset] %d, want %d (-1: null)", name, got, want)
		}
	}
}

// TestListAllTokens checks GET /api-tokens: admins see every user's tokens
// and can narrow them with filter[userId]; members are forbidden.
func TestListAllTokens(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		alice, bob := h.user(apitoken.RoleMember), h.user(apitoken.RoleMember)
		a1, aliceToken := mustCreateToken(t, h, alice, attrsWith(map[string]any{"scope": "api-tokens"}))
		a2, _ := mustCreateToken(t, h, alice, validAttrs())
		b1, _ := mustCreateToken(t, h, bob, validAttrs())
		h.do(req{method: "DELETE", path: tokenPath(alice, a2), token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		adminToken, adminTokenID := h.mint(h.AdminID, tokenSpec{scope: "api-tokens"})
		owner := map[string]string{a1: alice, a2: alice, b1: bob}

		t.Run("an admin lists every user's tokens", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/api-tokens?filter[status]=active,revoked", token: adminToken})
			r.expectStatus(t, http.StatusOK, "")
			got := idsOf(r)
			for _, id := range []string{a1, a2, b1, adminTokenID} {
				if !slices.Contains(got, id) {
					t.Errorf("token %s missing from %v", id, got)
				}
			}
			// Those and the bootstrap token.
			if len(got) != 5 || pageOf(t, r).total != 5 {
				t.Errorf("listed %d tokens (total %d), want 5", len(got), pageOf(t, r).total)
			}
			for _, d := range r.list() {
				id := d["id"].(string)
				user := d["relationships"].(map[string]any)["user"].(map[string]any)["data"].(map[string]any)["id"]
				if want, ok := owner[id]; ok && user != want {
					t.Errorf("token %s belongs to %v, want %s", id, user, want)
				}
				if _, leaked := d["attributes"].(map[string]any)["token"]; leaked {
					t.Errorf("token %s shows its token string", id)
				}
			}
		})

		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"revoked tokens are left out by default", "filter[userId]=" + alice, []string{a1}},
			{"filter[userId] with filter[status] narrows both ways", "filter[userId]=" + alice + "&filter[status]=revoked", []string{a2}},
			{"filter[userId] lists only that user's tokens", "filter[userId]=" + bob, []string{b1}},
			{"filter[userId] of an unknown user lists nothing", "filter[userId]=" + uuid.NewString(), []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: "/api-tokens?" + tc.query, token: adminToken})
				r.expectStatus(t, http.StatusOK, "")
				if got := idsOf(r); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
				p := pageOf(t, r)
				if p.total != len(tc.want) {
					t.Errorf("total = %d, want %d", p.total, len(tc.want))
				}
				keep, _ := url.ParseQuery(tc.query)
				linkOffset(t, h, p, "self", "/api-tokens", 100, keep)
			})
		}

		for _, bad := range []string{"filter[userId]=nope", "filter[userId]=" + alice + "&filter[userId]=" + bob, "filter[user]=" + alice} {
			t.Run(bad+" is refused", func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: "/api-tokens?" + bad, token: adminToken})
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				name, _, _ := strings.Cut(bad, "=")
				expectSources(t, r, "?"+name)
			})
		}

		t.Run("a member is forbidden", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/api-tokens", token: aliceToken})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
			h.do(req{method: "GET", path: tokensPath(alice), token: aliceToken}).expectStatus(t, http.StatusOK, "")
		})

		t.Run("an admin token without the api-tokens scope is forbidden", func(t *testing.T) {
			h := h.on(t)
			_, raw := mustCreateToken(t, h, h.AdminID, attrsWith(map[string]any{"scope": "customers api-tokens-write"}))
			r := h.do(req{method: "GET", path: "/api-tokens", token: raw})
			r.expectStatus(t, http.StatusForbidden, "forbidden")
		})
	})
}

// TestTokenEndpointsNotFound checks that every token endpoint answers 404
// for an unknown or malformed user or token id, and for a token of another
