package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// forgeTokens stores n tokens of the user created a millisecond apart,
// starting at start, and returns their ids in creation order.
func forgeTokens(h *harness, user string, start time.Time, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		at := start.Add(time.Duration(i) * time.Millisecond)
		c := verifier.Claims{ID: uuid.Must(uuid.NewV7()).String(), IssuedAt: at, NotBefore: at, Expiration: at.Add(48 * time.Hour)}
		h.forge(user, c, nil)
		ids[i] = c.ID
	}
	return ids
}

// walk follows the list's links named rel from the page at path until
// one is null, and returns the ids of every page in the order read, with
// each page's pagination.
func walk(t *testing.T, h *harness, path, rel string, between func()) ([]string, []page) {
	t.Helper()
	var ids []string
	var pages []page
	for range 1000 {
		r := h.do(req{method: "GET", path: path, token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
		p := pageOf(t, r)
		got := idsOf(r)
		if rel == "prev" {
			ids = append(slices.Clone(got), ids...)
		} else {
			ids = append(ids, got...)
		}
		pages = append(pages, p)
		next, _ := p.links[rel].(string)
		if next == "" {
			return ids, pages
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		path = u.RequestURI()
		if between != nil {
			between()
		}
	}
	t.Fatal("the links never end")
	return nil, nil
}

// TestListTokensByCursor pages through lists with the cursor links
// (page[after] in links.next, page[before] in links.prev), forwards and
// back, in both orders and under a filter: every token once, in order, and
// cursor pages' meta.pagination without an offset.
func TestListTokensByCursor(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		ids := forgeTokens(h, user, time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond), 53)
		newest := slices.Clone(ids)
		slices.Reverse(newest)
		path := tokensPath(user)
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"oldest first", "page[limit]=10", ids},
			{"newest first", "page[limit]=10&sort=-createdAt", newest},
			{"a page as long as the list", "page[limit]=53", ids},
			{"filtered", "page[limit]=7&filter[status]=active,revoked", ids},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := h.on(t)
				got, pages := walk(t, h, path+"?"+tc.query, "next", nil)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("following links.next gives %v,\nwant %v", got, tc.want)
				}
				for i, p := range pages {
					if p.total != len(tc.want) || (i == 0) != (p.offset == 0) || (i > 0 && p.offset != -1) {
						t.Fatalf("page %d has meta.pagination {limit %d offset %d total %d}; want total %d, offset 0 on the first page only", i, p.limit, p.offset, p.total, len(tc.want))
					}
				}
				// Back from the last page, by links.prev, to the first.
				last := pages[len(pages)-1].links["self"].(string)
				if len(pages) == 1 {
					return
				}
				u, _ := url.Parse(last)
				back, _ := walk(t, h, u.RequestURI(), "prev", nil)
				if !slices.Equal(back, tc.want) {
					t.Fatalf("following links.prev back gives %v,\nwant %v", back, tc.want)
				}
			})
		}

		t.Run("a page before a position links on to the tokens after it", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: path + "?page[limit]=10", token: h.AdminToken})
			next, _ := url.Parse(pageOf(t, r).links["next"].(string))
			second := h.do(req{method: "GET", path: next.RequestURI(), token: h.AdminToken})
			prev, _ := url.Parse(pageOf(t, second).links["prev"].(string))
			first := h.do(req{method: "GET", path: prev.RequestURI(), token: h.AdminToken})
			p := pageOf(t, first)
			if got := idsOf(first); !slices.Equal(got, ids[:10]) || p.links["prev"] != nil {
				t.Fatalf("links.prev of the second page gives %v with prev %v; want the first page and no prev", got, p.links["prev"])
			}
			again, _ := url.Parse(p.links["next"].(string))
			if got := idsOf(h.do(req{method: "GET", path: again.RequestURI(), token: h.AdminToken})); !slices.Equal(got, ids[10:20]) {
				t.Fatalf("its links.next gives %v, want the second page", got)
			}
		})

		t.Run("page[offset] keeps offset links", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: path + "?page[limit]=10&page[offset]=0", token: h.AdminToken})
			if next := pageOf(t, r).links["next"].(string); !strings.Contains(next, "page%5Boffset%5D=10") || strings.Contains(next, "after") {
				t.Fatalf("links.next = %s, want page[offset]=10", next)
			}
		})

		for _, tc := range []struct{ name, query, source string }{
			{"a cursor that is not base64 is refused", "page[after]=%%%", "?page[after]"},
			{"a cursor of garbage is refused", "page[after]=" + "Z2FyYmFnZQ", "?page[after]"},
			{"a cursor with a bad id is refused", "page[before]=" + "MTcwMDAwMDAwMDAwMC5ub3QtYW4taWQ", "?page[before]"},
			{"a cursor with page[offset] is refused", "page[after]=MTcwMDAwMDAwMDAwMC4wMWEyM2NmMy05MzA4LTc2ZjgtODBjZS1hNDM1M2U4OGE1ZmE&page[offset]=10", "?page"},
			{"page[after] with page[before] is refused", "page[after]=MTcwMDAwMDAwMDAwMC4wMWEyM2NmMy05MzA4LTc2ZjgtODBjZS1hNDM1M2U4OGE1ZmE&page[before]=MTcwMDAwMDAwMDAwMC4wMWEyM2NmMy05MzA4LTc2ZjgtODBjZS1hNDM1M2U4OGE1ZmE", "?page"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := h.on(t)
				r := h.do(req{method: "GET", path: path + "?" + tc.query, token: h.AdminToken})
				if tc.query == "page[after]=%%%" {
					r.expectStatus(t, http.StatusBadRequest, "invalid_value")
					return
				}
				r.expectStatus(t, http.StatusBadRequest, "invalid_value")
				expectSources(t, r, tc.source)
			})
		}
		t.Run("users have no cursors", func(t *testing.T) {
			h := h.on(t)
			r := h.do(req{method: "GET", path: "/users?page[after]=MTcwMDAwMDAwMDAwMC4wMWEyM2NmMy05MzA4LTc2ZjgtODBjZS1hNDM1M2U4OGE1ZmE", token: h.AdminToken})
			r.expectStatus(t, http.StatusBadRequest, "invalid_value")
		})
	})
}

// TestCursorPagesAreStableUnderConcurrentChanges walks every user's
// tokens by links.next while tokens are created and revoked, both between
// pages and concurrently: no token comes twice, the order holds, and every
// token listed throughout the walk is met.
func TestCursorPagesAreStableUnderConcurrentChanges(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		t.Parallel()
		user := h.user(apitoken.RoleMember)
		ids := forgeTokens(h, user, time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond), 240)
		// Every third token is revoked during the walk, in a shuffled order;
		// the others stay listed throughout.
		var doomed, kept []string
		for i, id := range ids {
			if i%3 == 1 {
				doomed = append(doomed, id)
			} else {
				kept = append(kept, id)
			}
		}
		revoke := func(id string) {
			h.do(req{method: "DELETE", path: tokensPath(user) + "/" + id, token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		}
		// Concurrent creations, of the newest tokens, a bounded number: an
		// oldest-first walk meets those created before it reaches the end.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				at := time.Now().UTC()
				tok := apitoken.Token{ID: uuid.Must(uuid.NewV7()).String(), UserID: user, Description: "concurrent",
					Scope: apitoken.ScopeAPITokens, Expiration: at.Add(time.Hour), ClaimExpiration: at.Add(time.Hour),
					Enabled: true, KeyID: h.Ring.Records()[0].ID, Hash: []byte(uuid.NewString()), CreatedAt: at, UpdatedAt: at}
				if err := h.Store.Tokens.Create(context.Background(), &tok); err != nil {
					t.Errorf("concurrent creation %d: %v", i, err)
					return
				}
			}
		}()
		for _, sort := range []string{"createdAt", "-createdAt"} {
			next := 0
			between := func() {
				for range 5 {
					if next < len(doomed) {
						revoke(doomed[(next*37)%len(doomed)])
						next++
					}
				}
			}
			got, _ := walk(t, h, tokensPath(user)+"?page[limit]=9&sort="+sort, "next", between)
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("sort=%s: token %s listed twice", sort, id)
				}
				seen[id] = true
			}
			for _, id := range kept {
				if !seen[id] {
					t.Fatalf("sort=%s: token %s, listed throughout, was skipped", sort, id)
				}
			}
			// UUIDv7 ids created a millisecond apart sort as they were created.
			ordered := slices.IsSorted(got)
			if sort == "-createdAt" {
				ordered = slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) })
			}
			if !ordered {
				t.Fatalf("sort=%s: the walk is out of order", sort)
			}
			// The second walk sees the revocations of the first.
			doomed = doomed[:0]
			for i, id := range kept {
				if i%4 == 0 {
					doomed = append(doomed, id)
				}
			}
			kept = slices.DeleteFunc(kept, func(id string) bool { return slices.Contains(doomed, id) })
		}
		wg.Wait()
	})
}
