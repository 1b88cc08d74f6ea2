package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"
	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// TestAuthenticationRefusesBadCredentials sends every kind of bad
// credential to an endpoint the credential's owner could otherwise use, and
// expects 401 with an RFC 6750 challenge for each, for the intended reason.
func TestAuthenticationRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		now := time.Now()
		member := h.user(apitoken.RoleMember)
		other := h.user(apitoken.RoleMember)
		path := tokensPath(member)
		valid, _ := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
		// Parsed at a time after minting: the token's nbf is its minting
		// second, which may be later than now.
		claims, err := verifier.Parse(valid, h.Ring, verifier.Options{Issuer: "tokend", Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		tokendKID := footerKID(t, valid)

		foreignPub, foreignPriv, _ := ed25519.GenerateKey(rand.Reader)
		local := paseto.NewV2SymmetricKey()
		tokendPriv := activePrivateKey(t, h)

		apiDisabled, apiDisabledID := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
		h.do(req{method: "PATCH", path: path + "/" + apiDisabledID, token: h.AdminToken,
			body: patchDoc(apiDisabledID, map[string]any{"enabled": false})}).expectStatus(t, http.StatusOK, "")
		revoked, revokedID := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
		h.do(req{method: "DELETE", path: path + "/" + revokedID, token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
		disabledUser := h.user(apitoken.RoleMember)
		ofDisabledUser, _ := h.mint(disabledUser, tokenSpec{scope: apitoken.ScopeAPITokens})
		if _, err := h.Service.SetUserDisabled(ctx, disabledUser, true); err != nil {
			t.Fatal(err)
		}

		period := func(iat, nbf, exp time.Duration) verifier.Claims {
			return verifier.Claims{IssuedAt: now.Add(iat), NotBefore: now.Add(nbf), Expiration: now.Add(exp)}
		}
		fresh := period(0, 0, time.Hour)
		withinLeeway := h.forge(member, period(0, 2*time.Second, time.Hour), nil)

		for _, tc := range []struct {
			name string
			// authorization is the Authorization header; "" sends none.
			authorization string
			path          string
			// presented says a bearer token was sent, so the challenge
			// must name invalid_token.
			presented bool
			// why is part of the detail, which says why the token failed.
			why string
		}{
			{name: "a request without an Authorization header", why: "Authorization: Bearer header"},
			{name: "a token only in the access_token query parameter", path: path + "?access_token=" + valid, why: "query string"},
			{name: "a token only in the token query parameter", path: path + "?token=" + valid, why: "query string"},
			{name: "the Basic scheme", authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret")), why: `"Bearer"`},
			{name: "the token without a scheme", authorization: valid, why: `"Bearer"`},
			{name: "the Bearer scheme without a token", authorization: "Bearer", why: `"Bearer"`},
			{name: "a Bearer header with two tokens", authorization: "Bearer " + valid + " " + valid, presented: true, why: `"Bearer"`},
			{name: "a malformed token", authorization: "Bearer not-a-token", presented: true, why: "malformed"},
			{name: "a v2.public token with a garbage body", authorization: "Bearer v2.public.garbage", presented: true, why: "malformed"},
			{name: "a token without its footer", authorization: "Bearer " + valid[:strings.LastIndex(valid, ".")], presented: true, why: "malformed"},
			{name: "a token with a tampered payload", authorization: "Bearer " + flipTokenByte(t, valid, 10), presented: true, why: "signature is invalid"},
			{name: "a token with a tampered signature", authorization: "Bearer " + flipTokenByte(t, valid, -1), presented: true, why: "signature is invalid"},
			{name: "a token whose footer was edited to name another key", authorization: "Bearer " + withFooter(valid, foreignKID(foreignPub)), presented: true, why: "key tokend does not know"},
			{name: "a token signed by a foreign key naming itself", authorization: "Bearer " + signV2(t, foreignPriv, claims, foreignKID(foreignPub)), presented: true, why: "key tokend does not know"},
			{name: "a token signed by a foreign key naming tokend's key", authorization: "Bearer " + signV2(t, foreignPriv, claims, tokendKID), presented: true, why: "signature is invalid"},
			{name: "a v2.local token", authorization: "Bearer " + encryptV2Local(t, local, claims, tokendKID), presented: true, why: "Only v2.public"},
			{name: "a v4.public token signed by tokend's own key", authorization: "Bearer " + signV4(t, tokendPriv, claims, tokendKID), presented: true, why: "Only v2.public"},
			{name: "a token of another issuer signed by tokend's key", authorization: "Bearer " + signAndStore(t, h, "someone-else", member, fresh), presented: true, why: "another issuer"},
			{name: "a token without a subject", authorization: "Bearer " + signAndStore(t, h, "tokend", "", fresh), presented: true, why: "malformed"},
			{name: "an expired token", authorization: "Bearer " + h.forge(member, period(-2*time.Hour, -2*time.Hour, -time.Hour), nil), presented: true, why: "expired"},
			{name: "a token whose stored expiration has passed though its claim has not", authorization: "Bearer " + h.forge(member, fresh, func(t *apitoken.Token) {
				t.Expiration = now.Add(-time.Second)
			}), presented: true, why: "expired"},
			{name: "a token not valid until a minute from now", authorization: "Bearer " + h.forge(member, period(0, time.Minute, time.Hour), nil), presented: true, why: "not valid yet"},
			{name: "a token issued a minute from now", authorization: "Bearer " + h.forge(member, period(time.Minute, 0, time.Hour), nil), presented: true, why: "not valid yet"},
			{name: "a token disabled through the API", authorization: "Bearer " + apiDisabled, presented: true, why: "disabled"},
			{name: "a token stored disabled", authorization: "Bearer " + h.forge(member, fresh, func(t *apitoken.Token) { t.Enabled = false }), presented: true, why: "disabled"},
			{name: "a revoked token", authorization: "Bearer " + revoked, presented: true, why: "revoked"},
			{name: "a token of a disabled user", authorization: "Bearer " + ofDisabledUser, path: tokensPath(disabledUser), presented: true, why: "user is disabled"},
			{name: "a token whose stored hash is another token's", authorization: "Bearer " + h.forge(member, fresh, func(t *apitoken.Token) {
				sum := sha256.Sum256([]byte("another token"))
				t.Hash = sum[:]
			}), presented: true, why: "not known"},
			{name: "a token stored for another user than its subject", authorization: "Bearer " + h.forge(member, fresh, func(t *apitoken.Token) {
				t.UserID = other
			}), presented: true, why: "not known"},
			{name: "a correctly signed token tokend has no record of", authorization: "Bearer " + signUnstored(t, h, member, fresh), presented: true, why: "not known"},
		} {
			t.Run(tc.name+" is unauthorized", func(t *testing.T) {
				t.Parallel()
				p := tc.path
				if p == "" {
					p = path
				}
				hd := http.Header{}
				if tc.authorization != "" {
					hd.Set("Authorization", tc.authorization)
				}
				r := h.do(req{method: "GET", path: p, header: hd})
				r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
				detail, _ := r.errors()[0]["detail"].(string)
				if !strings.Contains(detail, tc.why) {
					t.Errorf("detail = %q, want it to say %q", detail, tc.why)
				}
				checkBearerChallenge(t, r, tc.presented)
			})
		}

		for _, tc := range []struct {
			name, authorization string
		}{
			{"a valid token", "Bearer " + valid},
			{"a valid token with the scheme in lower case", "bearer " + valid},
			{"a token valid from two seconds ahead, within the clock leeway", "Bearer " + withinLeeway},
		} {
			t.Run(tc.name+" is accepted", func(t *testing.T) {
				t.Parallel()
				r := h.do(req{method: "GET", path: path, header: http.Header{"Authorization": {tc.authorization}}})
				r.expectStatus(t, http.StatusOK, "")
				if c := r.Header.Get("WWW-Authenticate"); c != "" {
					t.Errorf("WWW-Authenticate = %q on success", c)
				}
			})
		}
	})
}

// TestAuthenticationFollowsTokenAndUserState checks that disabling a token
// or its user takes effect on the next request, that enabling them again
// restores the token, and that revocation is final.
func TestAuthenticationFollowsTokenAndUserState(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		member := h.user(apitoken.RoleMember)
		path := tokensPath(member)
		use := func(t *testing.T, token string, status int) {
			t.Helper()
			code := ""
			if status == http.StatusUnauthorized {
				code = "unauthorized"
			}
			h.do(req{method: "GET", path: path, token: token}).expectStatus(t, status, code)
		}
		setEnabled := func(t *testing.T, id string, enabled bool, status string) {
			t.Helper()
			r := h.do(req{method: "PATCH", path: path + "/" + id, token: h.AdminToken,
				body: patchDoc(id, map[string]any{"enabled": enabled})})
			r.expectStatus(t, http.StatusOK, "")
			if r.attrs()["status"] != status || r.attrs()["enabled"] != enabled {
				t.Fatalf("after PATCH enabled=%v: %v", enabled, r.attrs())
			}
		}

		t.Run("a token disabled through the API is refused at once and works again when enabled", func(t *testing.T) {
			token, id := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
			use(t, token, http.StatusOK)
			setEnabled(t, id, false, "disabled")
			use(t, token, http.StatusUnauthorized)
			setEnabled(t, id, true, "active")
			use(t, token, http.StatusOK)
		})
		t.Run("a token can disable itself and then no longer enable itself", func(t *testing.T) {
			token, id := h.mint(member, tokenSpec{scope: "api-tokens api-tokens-write"})
			h.do(req{method: "PATCH", path: path + "/" + id, token: token,
				body: patchDoc(id, map[string]any{"enabled": false})}).expectStatus(t, http.StatusOK, "")
			h.do(req{method: "PATCH", path: path + "/" + id, token: token,
				body: patchDoc(id, map[string]any{"enabled": true})}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
		})
		t.Run("a revoked token stays refused and cannot be enabled again", func(t *testing.T) {
			token, id := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
			h.do(req{method: "DELETE", path: path + "/" + id, token: h.AdminToken}).expectStatus(t, http.StatusOK, "")
			use(t, token, http.StatusUnauthorized)
			h.do(req{method: "PATCH", path: path + "/" + id, token: h.AdminToken,
				body: patchDoc(id, map[string]any{"enabled": true})}).expectStatus(t, http.StatusConflict, "conflict")
			use(t, token, http.StatusUnauthorized)
		})
		t.Run("the tokens of a disabled user are refused at once and work again when it is enabled", func(t *testing.T) {
			u := h.user(apitoken.RoleMember)
			token, _ := h.mint(u, tokenSpec{scope: apitoken.ScopeAPITokens})
			uPath := tokensPath(u)
			h.do(req{method: "GET", path: uPath, token: token}).expectStatus(t, http.StatusOK, "")
			if _, err := h.Service.SetUserDisabled(ctx, u, true); err != nil {
				t.Fatal(err)
			}
			h.do(req{method: "GET", path: uPath, token: token}).expectStatus(t, http.StatusUnauthorized, "unauthorized")
			if _, err := h.Service.SetUserDisabled(ctx, u, false); err != nil {
				t.Fatal(err)
			}
			h.do(req{method: "GET", path: uPath, token: token}).expectStatus(t, http.StatusOK, "")
		})
	})
}

// TestKeyRotation checks that tokens signed before a rotation keep working,
// that new tokens name the new key, and that retiring a key refuses every
// token it signed.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		member := h.user(apitoken.RoleMember)
		path := tokensPath(member)
		before, _ := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})
		oldKID := footerKID(t, before)
		if !strings.HasPrefix(oldKID, paserk.PIDPrefix) {
			t.Fatalf("kid = %q, want a k2.pid", oldKID)
		}

		rotated, err := h.Ring.Rotate(ctx, 366*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens})

		t.Run("a new token's footer names the new key", func(t *testing.T) {
			footer := tokenFooter(t, after)
			if want := `{"kid":"` + rotated.ID + `"}`; footer != want {
				t.Fatalf("footer = %s, want %s", footer, want)
			}
			if rotated.ID == oldKID || rotated.ID != paserk.PublicID(rotated.PublicKey) {
				t.Fatalf("new kid %q: old kid %q, public id %q", rotated.ID, oldKID, paserk.PublicID(rotated.PublicKey))
			}
		})
		t.Run("tokens signed before and after the rotation both work", func(t *testing.T) {
			for _, token := range []string{before, after, h.AdminToken} {
				h.do(req{method: "GET", path: path, token: token}).expectStatus(t, http.StatusOK, "")
			}
		})
		t.Run("the active key cannot be retired", func(t *testing.T) {
			if err := h.Ring.Retire(ctx, rotated.ID); apitoken.ErrorCode(err) != apitoken.Conflict {
				t.Fatalf("retire the active key: %v, want a conflict", err)
			}
			h.do(req{method: "GET", path: path, token: after}).expectStatus(t, http.StatusOK, "")
		})
		t.Run("after the old key is retired its tokens are refused and the new key's work", func(t *testing.T) {
			if err := h.Ring.Retire(ctx, oldKID); err != nil {
				t.Fatal(err)
			}
			for _, token := range []string{before, h.AdminToken} {
				r := h.do(req{method: "GET", path: path, token: token})
				r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
				checkBearerChallenge(t, r, true)
			}
			h.do(req{method: "GET", path: path, token: after}).expectStatus(t, http.StatusOK, "")
		})
		t.Run("a key retired by another replica is refused within a second", func(t *testing.T) {
			if _, err := h.Ring.Rotate(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			// The store alone learns of the retirement, as when another
			// replica retires the key; this replica's ring still holds it.
			if err := h.Store.Keys.RetireKey(ctx, rotated.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Second)
			r := h.do(req{method: "GET", path: path, token: after})
			for r.StatusCode == http.StatusOK && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				r = h.do(req{method: "GET", path: path, token: after})
			}
			r.expectStatus(t, http.StatusUnauthorized, "unauthorized")
			if d := r.errors()[0]["detail"].(string); !strings.Contains(d, "retired") {
				t.Fatalf("detail = %q, want the key's retirement", d)
			}
		})
	})
}

// TestTokensVerifyWithPublishedKeys is the interoperability check: a
// third-party PASETO library verifies tokend's tokens given nothing but the
// public key from /.well-known/paseto-keys.
func TestTokensVerifyWithPublishedKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	token, id := h.mint(member, tokenSpec{scope: "customers accounts", sourceIP: "10.0.0.0/8"})

	publicKey := func(t *testing.T, kid string) paseto.V2AsymmetricPublicKey {
		t.Helper()
		r := h.do(req{method: "GET", path: "/.well-known/paseto-keys"})
		r.expectStatus(t, http.StatusOK, "")
		var set struct {
			Keys []struct{ KID, PASERK string }
		}
		if err := json.Unmarshal(r.Body, &set); err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			if k.KID == kid {
				pub, err := paserk.DecodePublic(k.PASERK)
				if err != nil {
					t.Fatalf("PASERK %q: %v", k.PASERK, err)
				}
				pk, err := paseto.NewV2AsymmetricPublicKeyFromEd25519(pub)
				if err != nil {
					t.Fatal(err)
				}
				return pk
			}
		}
		t.Fatalf("key %s is not published in %s", kid, r.Body)
		return paseto.V2AsymmetricPublicKey{}
	}
	parser := paseto.NewParser()
	parser.AddRule(paseto.IssuedBy("tokend"), paseto.Subject(member), paseto.IdentifiedBy(id), paseto.NotBeforeNbf())

	t.Run("go-paseto verifies a token with the published key its footer names", func(t *testing.T) {
		parsed, err := parser.ParseV2Public(publicKey(t, footerKID(t, token)), token)
		if err != nil {
			t.Fatalf("go-paseto refuses the token: %v", err)
		}
		for claim, want := range map[string]string{"scope": "customers accounts", "sourceIp": "10.0.0.0/8"} {
			if got, err := parsed.GetString(claim); err != nil || got != want {
				t.Errorf("%s = %q (%v), want %q", claim, got, err, want)
			}
		}
		exp, err := parsed.GetExpiration()
		if d := time.Until(exp); err != nil || d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("exp = %v (%v), want about a day ahead", exp, err)
		}
	})
	t.Run("go-paseto refuses the token with another published key", func(t *testing.T) {
		rotated, err := h.Ring.Rotate(context.Background(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.ParseV2Public(publicKey(t, rotated.ID), token); err == nil {
			t.Fatal("a token verified with a key that did not sign it")
		}
		if _, err := parser.ParseV2Public(publicKey(t, footerKID(t, token)), token); err != nil {
			t.Fatalf("the signing key, now retiring, no longer verifies: %v", err)
		}
	})
}

// TestAuthorizationScopes checks that each token endpoint needs its scope:
// api-tokens to read, api-tokens-write to create, update and revoke.
func TestAuthorizationScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	path := tokensPath(member)
	_, targetID := h.mint(member, tokenSpec{scope: "customers"})
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	endpoints := []struct {
		name, method string
		path         func() string
		body         func() any
		needs        string
		success      int
	}{
		{name: "listing tokens", method: "GET", path: func() string { return path }, needs: apitoken.ScopeAPITokens, success: http.StatusOK},
		{name: "reading a token", method: "GET", path: func() string { return path + "/" + targetID }, needs: apitoken.ScopeAPITokens, success: http.StatusOK},
		{name: "creating a token", method: "POST", path: func() string { return path }, needs: apitoken.ScopeAPITokensWrite, success: http.StatusCreated,
			body: func() any {
				return createBody(map[string]any{"description": "d", "scope": "customers", "expiration": soon})
			}},
		{name: "updating a token", method: "PATCH", path: func() string { return path + "/" + targetID }, needs: apitoken.ScopeAPITokensWrite, success: http.StatusOK,
			body: func() any { return patchDoc(targetID, map[string]any{"description": "renamed"}) }},
		{name: "revoking a token", method: "DELETE", needs: apitoken.ScopeAPITokensWrite, success: http.StatusOK,
			path: func() string {
				_, id := h.mint(member, tokenSpec{scope: "customers"})
				return path + "/" + id
			}},
	}
	for _, ep := range endpoints {
		lacking := apitoken.ScopeAPITokens
		if ep.needs == apitoken.ScopeAPITokens {
			lacking = apitoken.ScopeAPITokensWrite
		}
		send := func(t *testing.T, token string) *response {
			t.Helper()
			var body any
			if ep.body != nil {
				body = ep.body()
			}
			return h.do(req{method: ep.method, path: ep.path(), token: token, body: body})
		}
		t.Run(ep.name+" is forbidden to a token with only "+lacking, func(t *testing.T) {
			token, _ := h.mint(member, tokenSpec{scope: "customers " + lacking})
			r := send(t, token)
			r.expectStatus(t, http.StatusForbidden, "forbidden")
			want := `Bearer realm="tokend", error="insufficient_scope", scope="` + ep.needs + `"`
			if c := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, want) {
				t.Fatalf("WWW-Authenticate = %q, want prefix %q", c, want)
			}
		})
		t.Run(ep.name+" is allowed to a token with "+ep.needs, func(t *testing.T) {
			token, _ := h.mint(member, tokenSpec{scope: "customers " + ep.needs})
			send(t, token).expectStatus(t, ep.success, "")
		})
	}
}

// TestAuthorizationUsers checks who may act under /users/:userId: an admin
// for anyone, a member only for itself, and only admins on GET /api-tokens.
func TestAuthorizationUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	otherMember := h.user(apitoken.RoleMember)
	memberToken, _ := h.mint(member, tokenSpec{scope: "customers api-tokens api-tokens-write"})
	_, otherTokenID := h.mint(otherMember, tokenSpec{scope: "customers"})
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	create := createBody(map[string]any{"description": "d", "scope": "customers", "expiration": soon})

	type call struct {
		method, path string
		body         any
	}
	callsOn := func(userID, tokenID string) map[string]call {
		p := "/users/" + userID + "/api-tokens"
		return map[string]call{
			"list":   {"GET", p, nil},
			"read":   {"GET", p + "/" + tokenID, nil},
			"create": {"POST", p, create},
			"update": {"PATCH", p + "/" + tokenID, patchDoc(tokenID, map[string]any{"description": "renamed"})},
			"revoke": {"DELETE", p + "/" + tokenID, nil},
		}
	}
	order := []string{"list", "read", "create", "update", "revoke"}

	for _, target := range []struct{ name, userID, tokenID string }{
		{"another member", otherMember, otherTokenID},
		{"the admin", h.AdminID, uuid.NewString()},
		{"a user that does not exist", uuid.NewString(), uuid.NewString()},
		{"a malformed user id", "not-a-user", "not-a-token"},
	} {
		calls := callsOn(target.userID, target.tokenID)
		for _, name := range order {
			c := calls[name]
			t.Run("a member cannot "+name+" tokens of "+target.name, func(t *testing.T) {
				r := h.do(req{method: c.method, path: c.path, token: memberToken, body: c.body})
				r.expectStatus(t, http.StatusForbidden, "forbidden")
			})
		}
	}
	t.Run("the other member's token is untouched by the refused calls", func(t *testing.T) {
		r := h.do(req{method: "GET", path: tokensPath(otherMember) + "/" + otherTokenID, token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
		if a := r.attrs(); a["status"] != "active" || a["description"] != "test token" {
			t.Fatalf("attributes = %v", a)
		}
		if n := countTokens(t, h, otherMember); n != 1 {
			t.Fatalf("other member has %d tokens, want 1", n)
		}
	})

	statuses := map[string]int{"list": 200, "read": 200, "create": 201, "update": 200, "revoke": 200}
	for _, actor := range []struct{ name, token string }{
		{"a member", memberToken},
		{"an admin", h.AdminToken},
	} {
		_, ownID := h.mint(member, tokenSpec{scope: "customers"})
		calls := callsOn(member, ownID)
		for _, name := range order {
			c := calls[name]
			t.Run(actor.name+" can "+name+" the member's tokens", func(t *testing.T) {
				h.do(req{method: c.method, path: c.path, token: actor.token, body: c.body}).expectStatus(t, statuses[name], "")
			})
		}
	}
	t.Run("an admin acting for a user that does not exist gets 404", func(t *testing.T) {
		h.do(req{method: "GET", path: tokensPath(uuid.NewString()), token: h.AdminToken}).expectStatus(t, http.StatusNotFound, "not_found")
	})

	t.Run("a member cannot list every user's tokens", func(t *testing.T) {
		r := h.do(req{method: "GET", path: "/api-tokens", token: memberToken})
		r.expectStatus(t, http.StatusForbidden, "forbidden")
	})
	t.Run("an admin without the api-tokens scope cannot list every user's tokens", func(t *testing.T) {
		token, _ := h.mint(h.AdminID, tokenSpec{scope: "users api-tokens-write"})
		h.do(req{method: "GET", path: "/api-tokens", token: token}).expectStatus(t, http.StatusForbidden, "forbidden")
	})
	t.Run("an admin lists every user's tokens", func(t *testing.T) {
		r := h.do(req{method: "GET", path: "/api-tokens?page[limit]=1000", token: h.AdminToken})
		r.expectStatus(t, http.StatusOK, "")
		owners := map[string]bool{}
		for _, res := range r.list() {
			rel := res["relationships"].(map[string]any)["user"].(map[string]any)["data"].(map[string]any)
			owners[rel["id"].(string)] = true
		}
		for _, u := range []string{member, otherMember, h.AdminID} {
			if !owners[u] {
				t.Errorf("tokens of %s missing from GET /api-tokens", u)
			}
		}
	})
}

// TestSourceIP checks sourceIp restrictions against the client address, and
// that X-Forwarded-For names the client only behind a trusted proxy.
func TestSourceIP(t *testing.T) {
	t.Parallel()
	direct := newHarness(t, options{})
	proxied := newHarness(t, options{trustedProxies: "127.0.0.1/32,192.0.2.0/24"})

	for _, tc := range []struct {
		name     string
		h        *harness
		sourceIP string
		xff      []string
		// client is the address tokend must see; ok whether it is allowed.
		client string
		ok     bool
	}{
		{name: "a token bound to 10.0.0.0/8 is forbidden from 127.0.0.1", h: direct, sourceIP: "10.0.0.0/8", client: "127.0.0.1"},
		{name: "a token bound to 127.0.0.1 is allowed from 127.0.0.1", h: direct, sourceIP: "127.0.0.1", client: "127.0.0.1", ok: true},
		{name: "a token bound to a list holding the client's range is allowed", h: direct, sourceIP: "192.168.1.1,127.0.0.0/8", client: "127.0.0.1", ok: true},
		{name: "a token bound to an IPv6 address is forbidden from an IPv4 client", h: direct, sourceIP: "::1", client: "127.0.0.1"},
		{name: "without trusted proxies X-Forwarded-For cannot make a client inside the range", h: direct, sourceIP: "10.0.0.0/8", xff: []string{"10.1.2.3"}, client: "127.0.0.1"},
		{name: "without trusted proxies X-Forwarded-For cannot move a client out of the range", h: direct, sourceIP: "127.0.0.1", xff: []string{"10.1.2.3"}, client: "127.0.0.1", ok: true},
		{name: "behind a trusted proxy X-Forwarded-For names the client", h: proxied, sourceIP: "10.0.0.0/8", xff: []string{"10.1.2.3"}, client: "10.1.2.3", ok: true},
		{name: "behind a trusted proxy the proxy itself is not the client", h: proxied, sourceIP: "127.0.0.1", xff: []string{"10.1.2.3"}, client: "10.1.2.3"},
		{name: "behind a trusted proxy without X-Forwarded-For the peer is the client", h: proxied, sourceIP: "127.0.0.1", client: "127.0.0.1", ok: true},
		{name: "the rightmost untrusted entry is the client and spoofed entries left of it are ignored", h: proxied, sourceIP: "10.0.0.0/8", xff: []string{"203.0.113.9, 10.1.2.3"}, client: "10.1.2.3", ok: true},
		{name: "a spoofed entry left of the real client does not help", h: proxied, sourceIP: "10.0.0.0/8", xff: []string{"10.1.2.3, 203.0.113.9"}, client: "203.0.113.9"},
		{name: "trusted proxies at the right of the chain are skipped", h: proxied, sourceIP: "10.0.0.0/8", xff: []string{"203.0.113.9, 10.1.2.3, 192.0.2.10"}, client: "10.1.2.3", ok: true},
		{name: "X-Forwarded-For header lines are read as one list", h: proxied, sourceIP: "10.0.0.0/8", xff: []string{"10.1.2.3", "203.0.113.9"}, client: "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			member := h.user(apitoken.RoleMember)
			token, id := h.mint(member, tokenSpec{scope: apitoken.ScopeAPITokens, sourceIP: tc.sourceIP})
			r := h.do(req{method: "GET", path: tokensPath(member), token: token, header: http.Header{"X-Forwarded-For": tc.xff}})
			if !tc.ok {
				r.expectStatus(t, http.StatusForbidden, "forbidden")
				if d := r.errors()[0]["detail"].(string); !strings.Contains(d, " "+tc.client+".") {
					t.Fatalf("detail = %q, want the client %s", d, tc.client)
				}
				return
			}
			r.expectStatus(t, http.StatusOK, "")
			if err := h.Service.FlushUsage(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := h.do(req{method: "GET", path: tokensPath(member) + "/" + id, token: h.AdminToken})
			got.expectStatus(t, http.StatusOK, "")
			if ip := got.attrs()["lastUsedIp"]; ip != tc.client {
				t.Fatalf("lastUsedIp = %v, want %s", ip, tc.client)
			}
		})
	}
}

// TestAccessIsCheckedBeforeTheBody checks that a caller who may not make a
// write learns nothing from the validation of its body: it gets 403 or 404,
// never a 400 listing what the catalog holds.
func TestAccessIsCheckedBeforeTheBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	member := h.user(apitoken.RoleMember)
	other := h.user(apitoken.RoleMember)
	_, ownID := h.mint(member, tokenSpec{scope: "customers"})
	_, otherID := h.mint(other, tokenSpec{scope: "customers"})
	reader, _ := h.mint(member, tokenSpec{scope: "customers api-tokens"})
	writer, _ := h.mint(member, tokenSpec{scope: "customers api-tokens api-tokens-write"})
	adminReader, _ := h.mint(h.AdminID, tokenSpec{scope: "users api-tokens"})
	badToken := createBody(map[string]any{"description": 5, "scope": "no-such-scope", "expiration": "soon", "bogus": 1})
	badPatch := func(id string) any { return patchDoc(id, map[string]any{"expiration": "soon", "bogus": 1}) }
	badUser := userBody(map[string]any{"email": "not an email", "role": "owner", "service": "yes"})
	badUserPatch := func(id string) any { return userPatchBody(id, map[string]any{"role": "owner", "disabled": "true"}) }

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"a token without api-tokens-write creating a token", "POST", tokensPath(member), reader, badToken, 403},
		{"a member creating a token for another user", "POST", tokensPath(other), writer, badToken, 403},
		{"an admin creating a token for a user that does not exist", "POST", tokensPath(uuid.NewString()), h.AdminToken, badToken, 404},
		{"a token without api-tokens-write changing a token", "PATCH", tokensPath(member) + "/" + ownID, reader, badPatch(ownID), 403},
		{"a member changing another user's token", "PATCH", tokensPath(other) + "/" + otherID, writer, badPatch(otherID), 403},
		{"an admin changing a token that does not exist", "PATCH", tokensPath(member) + "/" + otherID, h.AdminToken, badPatch(otherID), 404},
		{"a member creating a user", "POST", "/users", writer, badUser, 403},
		{"an admin without users-write creating a user", "POST", "/users", adminReader, badUser, 403},
		{"a member changing a user", "PATCH", "/users/" + member, writer, badUserPatch(member), 403},
		{"an admin changing a user that does not exist", "PATCH", "/users/" + otherID, h.AdminToken, badUserPatch(otherID), 404},
	} {
		t.Run(tc.name+" is refused before its body is checked", func(t *testing.T) {
			r := h.do(req{method: tc.method, path: tc.path, token: tc.token, body: tc.body})
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d\n%s", r.StatusCode, tc.status, r.Body)
			}
			if strings.Contains(string(r.Body), "no-such-scope") || strings.Contains(string(r.Body), "pointer") {
				t.Fatalf("the refusal tells about the body: %s", r.Body)
			}
		})
	}
}
