package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/revfeed"
)

// bulkRevoked stores n revoked tokens of the user at once, as one change:
// BulkCreate numbers each chunk of rows with one change number. It
// returns their ids, sorted, and their exp claim.
func (h *harness) bulkRevoked(user string, n int) ([]string, time.Time) {
	h.t.Helper()
	ctx := context.Background()
	key, err := h.Store.Keys.ActiveKey(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	exp := now.Add(48 * time.Hour)
	toks := make([]apitoken.Token, n)
	ids := make([]string, n)
	for i := range toks {
		hash := make([]byte, 32)
		rand.Read(hash)
		ids[i] = uuid.NewString()
		toks[i] = apitoken.Token{ID: ids[i], UserID: user, KeyID: key.ID, Hash: hash, Description: "bulk", Scope: "customers",
			Enabled: true, Expiration: exp, ClaimExpiration: exp, CreatedAt: now, UpdatedAt: now, RevokedAt: &now}
	}
	if err := h.Store.Tokens.BulkCreate(ctx, toks); err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(ids)
	return ids, exp
}

// compactPage fetches a page of the feed in the compact form.
func (h *harness) compactPage(caller, cursor string, limit int) *revfeed.Page {
	h.t.Helper()
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	r := h.do(req{method: "GET", path: "/revocations?" + q.Encode(), token: caller,
		header: http.Header{"Accept": {revfeed.MediaType + ", application/json;q=0.5"}}})
	r.expectStatus(h.t, 200, "")
	if ct := r.Header.Get("Content-Type"); ct != revfeed.MediaType {
		h.t.Fatalf("Content-Type = %q, want %q", ct, revfeed.MediaType)
	}
	p, err := revfeed.Decode(r.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestRevocationFeedPagesThroughOneChangeOfManyTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, h *harness) {
		caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect})
		member := h.user(apitoken.RoleMember)
		ids, exp := h.bulkRevoked(member, 2500)

		t.Run("compact pages hold every token once, in id order within the change", func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				p := h.compactPage(caller, cursor, 1000)
				pages++
				for _, tk := range p.Tokens {
					if !tk.Revoked || !tk.Enabled || tk.Exp != exp.UnixMilli() || tk.Expiration != exp.UnixMilli() {
						t.Fatalf("token %x: %+v, want revoked, enabled, expiring at %d", tk.ID, tk, exp.UnixMilli())
					}
					got = append(got, uuid.UUID(tk.ID).String())
				}
				cursor = p.Cursor
				if !p.More {
					break
				}
			}
			if pages != 3 || !slices.Equal(got, ids) {
				t.Fatalf("%d pages of %d tokens; want 3 pages of the %d tokens in id order", pages, len(got), len(ids))
			}
			if p := h.compactPage(caller, cursor, 1000); len(p.Tokens) != 0 || p.More {
				t.Fatalf("after the last page: %d tokens, more %v", len(p.Tokens), p.More)
			}
		})
		t.Run("JSON pages hold the same tokens", func(t *testing.T) {
			tokens, _, _ := h.round(caller, "", 700)
			if len(tokens) != len(ids) {
				t.Fatalf("JSON round of %d tokens, want %d", len(tokens), len(ids))
			}
			for _, id := range ids {
				if !tokens[id] {
					t.Fatalf("token %s missing or not revoked in the JSON round", id)
				}
			}
		})
		t.Run("a change after the round is the next round", func(t *testing.T) {
			_, _, cursor := h.round(caller, "", 5000)
			_, id := h.mint(member, tokenSpec{scope: "customers"})
			h.do(req{method: "DELETE", path: tokensPath(member) + "/" + id, token: h.AdminToken}).expectStatus(t, 200, "")
			p := h.compactPage(caller, cursor, 1000)
			if len(p.Tokens) != 1 || uuid.UUID(p.Tokens[0].ID).String() != id || !p.Tokens[0].Revoked || p.More {
				t.Fatalf("next round = %+v, want the one revocation", p)
			}
		})
	})
}

func TestRevocationFeedNegotiation(t *testing.T) {
	h := newHarness(t, options{})
	caller, _ := h.mint(h.AdminID, tokenSpec{scope: apitoken.ScopeIntrospect})
	h.bulkRevoked(h.user(apitoken.RoleMember), 100)
	get := func(accept, encoding string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(http.MethodGet, h.URL+"/revocations", nil)
		r.Header.Set("Authorization", "Bearer "+caller)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if encoding != "" {
			r.Header.Set("Accept-Encoding", encoding)
		}
		// A transport that leaves compression to the test.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	t.Run("JSON unless the compact form is accepted", func(t *testing.T) {
		for accept, want := range map[string]string{
			"":                              "application/json",
			"application/json":              "application/json",
			"*/*":                           "application/json",
			revfeed.MediaType + ";q=0, */*": "application/json",
			revfeed.MediaType:               revfeed.MediaType,
			"application/json;q=0.5, " + revfeed.MediaType: revfeed.MediaType,
		} {
			if ct := get(accept, "").Header.Get("Content-Type"); ct != want {
				t.Errorf("Accept %q: Content-Type %q, want %q", accept, ct, want)
			}
		}
	})
	t.Run("gzip for a client that accepts it", func(t *testing.T) {
		for _, accept := range []string{"application/json", revfeed.MediaType} {
			resp := get(accept, "gzip")
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept %q with gzip: Content-Encoding %q", accept, resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if accept == revfeed.MediaType {
				p, err := revfeed.Decode(body)
				if err != nil {
					t.Fatal(err)
				}
				n = len(p.Tokens)
			} else {
				var p feedPage
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				n = len(p.Tokens)
			}
			if n != 100 {
				t.Fatalf("Accept %q with gzip: %d tokens, want 100", accept, n)
			}
			plain := get(accept, "")
			body, _ = io.ReadAll(plain.Body)
			if plain.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(body, []byte("TKRV")) && !bytes.HasPrefix(body, []byte("{")) {
				t.Fatalf("Accept %q without gzip: Content-Encoding %q, body %.20q", accept, plain.Header.Get("Content-Encoding"), body)
			}
		}
	})
	t.Run("limit is bounded", func(t *testing.T) {
		h.do(req{method: "GET", path: "/revocations?limit=20001", token: caller}).expectStatus(t, 400, "invalid_value")
		if p := h.feed(caller, "?limit=20000"); len(p.Tokens) != 100 || p.More {
			t.Fatalf("limit=20000: %d tokens, more %v", len(p.Tokens), p.More)
		}
	})
}
