package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/paserk"
)

// publishedKey is an entry of GET /.well-known/paseto-keys as a client
// reads it.
type publishedKey struct {
	KID       string  `json:"kid"`
	Version   string  `json:"version"`
	Purpose   string  `json:"purpose"`
	PASERK    string  `json:"paserk"`
	Status    string  `json:"status"`
	CreatedAt string  `json:"createdAt"`
	RotatedAt *string `json:"rotatedAt"`
	RetireAt  *string `json:"retireAt"`
	RetiredAt *string `json:"retiredAt"`
}

// getKeySet fetches the key set, checks the parts every answer shares, and
// returns its keys by kid, in order, and the response.
func getKeySet(t *testing.T, h *harness, header http.Header) ([]publishedKey, *response) {
	t.Helper()
	r := h.do(req{method: "GET", path: "/.well-known/paseto-keys", header: header})
	if r.StatusCode == http.StatusNotModified {
		return nil, r
	}
	r.expectStatus(t, http.StatusOK, "")
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var set struct {
		Issuer string         `json:"issuer"`
		Keys   []publishedKey `json:"keys"`
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("key set %s: %v", r.Body, err)
	}
	if set.Issuer != "tokend" {
		t.Errorf("issuer = %q, want tokend", set.Issuer)
	}
	for _, k := range set.Keys {
		pub, err := paserk.DecodePublic(k.PASERK)
		if err != nil {
			t.Fatalf("paserk %q: %v", k.PASERK, err)
		}
		if k.KID != paserk.PublicID(pub) {
			t.Errorf("kid = %q, want the key's k2.pid %q", k.KID, paserk.PublicID(pub))
		}
		if k.Version != "v2" || k.Purpose != "public" {
			t.Errorf("key %s is %s.%s, want v2.public", k.KID, k.Version, k.Purpose)
		}
		if _, err := time.Parse(time.RFC3339, k.CreatedAt); err != nil || !strings.HasSuffix(k.CreatedAt, "Z") {
			t.Errorf("createdAt = %q, want an RFC 3339 UTC time", k.CreatedAt)
		}
	}
	return set.Keys, r
}

// TestWellKnownKeys checks the published key set through a key's life:
// active, retiring after a rotation, retired after retirement, with HTTP
// caching that notices each change.
func TestWellKnownKeys(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		first, firstResp := getKeySet(t, h, nil)
		firstETag := firstResp.Header.Get("ETag")

		t.Run("the key set needs no authentication, even a bad one", func(t *testing.T) {
			for _, hd := range []http.Header{nil, {"Authorization": {"Bearer not-a-token"}}} {
				keys, _ := getKeySet(t, h, hd)
				if len(keys) != 1 {
					t.Fatalf("%d keys, want 1", len(keys))
				}
			}
		})
		t.Run("a fresh tokend publishes its one key as active", func(t *testing.T) {
			if len(first) != 1 {
				t.Fatalf("keys = %+v, want one", first)
			}
			k := first[0]
			if k.Status != "active" || k.RotatedAt != nil || k.RetireAt != nil || k.RetiredAt != nil {
				t.Fatalf("key = %+v, want active and never rotated", k)
			}
			token, _ := h.mint(h.user(apitoken.RoleMember), tokenSpec{scope: "customers"})
			if kid := footerKID(t, token); kid != k.KID {
				t.Fatalf("tokens name %s, the key set %s", kid, k.KID)
			}
		})
		t.Run("the key set is cacheable and revalidated with its ETag", func(t *testing.T) {
			if !strings.HasPrefix(firstETag, `"`) || !strings.HasSuffix(firstETag, `"`) || len(firstETag) < 3 {
				t.Fatalf("ETag = %q, want a strong entity tag", firstETag)
			}
			if cc := firstResp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
				t.Fatalf("Cache-Control = %q, want a max-age", cc)
			}
			_, again := getKeySet(t, h, nil)
			if again.Header.Get("ETag") != firstETag {
				t.Fatalf("ETag changed from %q to %q with nothing changed", firstETag, again.Header.Get("ETag"))
			}
			for _, inm := range []string{firstETag, "W/" + firstETag, `"other", ` + firstETag, "*"} {
				_, r := getKeySet(t, h, http.Header{"If-None-Match": {inm}})
				if r.StatusCode != http.StatusNotModified || len(r.Body) != 0 {
					t.Fatalf("If-None-Match %s: status %d, body %q; want 304 without a body", inm, r.StatusCode, r.Body)
				}
				if r.Header.Get("ETag") != firstETag {
					t.Fatalf("304 carries ETag %q, want %q", r.Header.Get("ETag"), firstETag)
				}
			}
			if _, r := getKeySet(t, h, http.Header{"If-None-Match": {`"something-else"`}}); r.StatusCode != http.StatusOK {
				t.Fatalf("a stale If-None-Match got %d, want 200", r.StatusCode)
			}
		})

		rotated, err := h.Ring.Rotate(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("after a rotation the old key is retiring and the new one active", func(t *testing.T) {
			keys, r := getKeySet(t, h, http.Header{"If-None-Match": {firstETag}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("If-None-Match with the old ETag got %d after a rotation, want 200", r.StatusCode)
			}
			if r.Header.Get("ETag") == firstETag {
				t.Fatal("the ETag did not change with the key set")
			}
			if len(keys) != 2 || keys[0].KID != first[0].KID || keys[1].KID != rotated.ID {
				t.Fatalf("keys = %+v, want the old key then %s", keys, rotated.ID)
			}
			old, cur := keys[0], keys[1]
			if old.Status != "retiring" || old.RotatedAt == nil || old.RetireAt == nil || old.RetiredAt != nil {
				t.Fatalf("old key = %+v, want retiring with rotatedAt and retireAt", old)
			}
			rotatedAt, _ := time.Parse(time.RFC3339, *old.RotatedAt)
			retireAt, _ := time.Parse(time.RFC3339, *old.RetireAt)
			// The bootstrap token lives for the maximum lifetime, so the old
			// key verifies until it expires, well beyond the hour asked for.
			if !retireAt.After(rotatedAt.Add(300 * 24 * time.Hour)) {
				t.Fatalf("old key retires at %s, rotated at %s: before its tokens expire", retireAt, rotatedAt)
			}
			if cur.Status != "active" || cur.RotatedAt != nil || cur.RetireAt != nil {
				t.Fatalf("new key = %+v, want active", cur)
			}
		})
		t.Run("after retirement the old key is published as retired", func(t *testing.T) {
			if err := h.Ring.Retire(ctx, first[0].KID); err != nil {
				t.Fatal(err)
			}
			keys, _ := getKeySet(t, h, nil)
			if len(keys) != 2 {
				t.Fatalf("keys = %+v, want two", keys)
			}
			old, cur := keys[0], keys[1]
			if old.Status != "retired" || old.RetiredAt == nil {
				t.Fatalf("old key = %+v, want retired with retiredAt", old)
			}
			if cur.Status != "active" || cur.KID != rotated.ID {
				t.Fatalf("new key = %+v, want active", cur)
			}
		})
	})
}
