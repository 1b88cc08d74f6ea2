package service

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// CreateToken issues a token for the user on the caller's behalf. Beyond
// validation, it enforces the no-escalation rules of apitoken.CheckGrant
// against the caller's token. It returns the token's metadata and the token
// string, which is shown once.
func (s *Service) CreateToken(ctx context.Context, p *Principal, userID string, req apitoken.TokenRequest) (apitoken.Token, string, error) {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return apitoken.Token{}, "", err
	}
	user, err := s.userFor(ctx, p, userID)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	spec, err := s.prepare(user, req)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	if err := apitoken.CheckGrant(p.grantor(), &user, s.catalog, spec); err != nil {
		return apitoken.Token{}, "", err
	}
	return s.issue(ctx, user, spec)
}

// userFor returns the user the principal's request acts on: its own user,
// as read when it authenticated, or another read from the store.
func (s *Service) userFor(ctx context.Context, p *Principal, userID string) (apitoken.User, error) {
	if userID == p.User.ID {
		return p.User, nil
	}
	return s.targetUser(ctx, userID)
}

// grantor returns the principal's token as the grantor of a new token.
func (p *Principal) grantor() apitoken.Grantor {
	return apitoken.Grantor{UserID: p.User.ID, Scopes: p.Scopes, Expiration: p.Token.Expiration,
		SourceIP: p.Token.SourceIP, Resources: p.Token.Resources}
}

// TokenGrant returns the most the principal's token may put in a token
// created now for the user (see apitoken.Grantor.GrantFor).
func (s *Service) TokenGrant(p *Principal, u *apitoken.User) apitoken.Grant {
	return p.grantor().GrantFor(u, s.catalog, s.now().Add(s.maxLife))
}

// MayWriteTokens returns an error unless the caller may create or change
// the user's tokens and, when tokenID is set, that token exists. Handlers
// call it before they read a request body, so that a caller who may not
// write learns nothing from the body's validation.
func (s *Service) MayWriteTokens(ctx context.Context, p *Principal, userID, tokenID string) error {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return err
	}
	if _, err := s.userFor(ctx, p, userID); err != nil || tokenID == "" {
		return err
	}
	if !ValidID(tokenID) {
		return apitoken.Errorf(apitoken.NotFound, "API token not found")
	}
	_, err := s.tokens.Get(ctx, userID, tokenID)
	return err
}

// IssueToken issues a token for the user with no caller to check: the
// command line's path, for operators with access to the database. The
// scopes must still be ones the user may hold.
func (s *Service) IssueToken(ctx context.Context, userID string, req apitoken.TokenRequest) (apitoken.Token, string, error) {
	user, err := s.targetUser(ctx, userID)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	spec, err := s.prepare(user, req)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	if extra := apitoken.Subtract(spec.Scopes, user.AllowedScopes(s.catalog)); len(extra) > 0 {
		return apitoken.Token{}, "", &apitoken.Error{Code: apitoken.Forbidden, Field: "scope",
			Detail: fmt.Sprintf("The user may not hold %s.", apitoken.QuoteList(extra))}
	}
	return s.issue(ctx, user, spec)
}

// TokenPolicy returns the limits new tokens are validated against now.
func (s *Service) TokenPolicy() apitoken.Policy {
	return apitoken.Policy{Catalog: s.catalog, MaxLifetime: s.maxLife, Now: s.now()}
}

// prepare checks a request for a token of the user: its attributes, then
// that the user is enabled.
func (s *Service) prepare(user apitoken.User, req apitoken.TokenRequest) (apitoken.TokenSpec, error) {
	spec, err := req.Validate(s.TokenPolicy())
	if err != nil {
		return spec, err
	}
	if user.Disabled {
		return spec, apitoken.Errorf(apitoken.Conflict, "The user is disabled; enable it before creating tokens.")
	}
	return spec, nil
}

// quotaSlack is how far below TOKEND_MAX_TOKENS_PER_USER a user's live
// tokens must be for a creation to be counted without locking the user.
// Creations counted unlocked cannot see those in flight beside them (on
// one replica, few: the store writes one batch at a time and counts a
// batch's creations one after the other), so the cap holds exactly unless
// more than quotaSlack creations for one user are in flight at once,
// across replicas.
const quotaSlack = 32

func (s *Service) issue(ctx context.Context, user apitoken.User, spec apitoken.TokenSpec) (apitoken.Token, string, error) {
	now := s.now().UTC()
	t, raw, err := s.mint(ctx, user, spec, now)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	// Far from the cap, a user's creations run side by side; near it, they
	// are counted one at a time.
	created := false
	if below := s.maxTokens - quotaSlack; below > 0 {
		created, err = s.tokens.CreateBelow(ctx, &t, now, int64(below))
	}
	if err == nil && !created {
		err = s.tx.InTx(ctx, func(ctx context.Context) error { return s.createCounted(ctx, &t, now) })
	}
	if err != nil {
		return apitoken.Token{}, "", err
	}
	return t, raw, nil
}

// mint makes a new token of the user from the spec at now: its metadata,
// not stored yet, and the signed token string.
func (s *Service) mint(ctx context.Context, user apitoken.User, spec apitoken.TokenSpec, now time.Time) (apitoken.Token, string, error) {
	t := apitoken.Token{
		ID:              newID(),
		UserID:          user.ID,
		Description:     spec.Description,
		Scope:           spec.Scope,
		Expiration:      spec.Expiration,
		ClaimExpiration: spec.Expiration,
		SourceIP:        spec.SourceIP,
		Resources:       spec.Resources,
		Enabled:         true,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	claims := verifier.Claims{
		Issuer:     s.issuer,
		Subject:    user.ID,
		ID:         t.ID,
		IssuedAt:   now,
		NotBefore:  now,
		Expiration: spec.Expiration,
		Scope:      spec.Scope,
		SourceIP:   spec.SourceIP,
	}
	for _, r := range spec.Resources {
		claims.Resources = append(claims.Resources, verifier.Resource{Type: r.Type, IDs: r.IDs})
	}
	raw, kid, err := s.keys.Sign(ctx, claims)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	sum := verifier.TokenHash(raw)
	t.KeyID, t.Hash = kid, sum[:]
	return t, raw, nil
}

// createCounted stores the token, in the caller's transaction, unless its
// user already holds the most live tokens allowed at now, counted under a
// lock of the user after the creations in flight.
func (s *Service) createCounted(ctx context.Context, t *apitoken.Token, now time.Time) error {
	n, err := s.tokens.CountLive(ctx, t.UserID, now, true)
	if err != nil {
		return err
	}
	if n >= int64(s.maxTokens) {
		return apitoken.Errorf(apitoken.Conflict, "The user holds %d tokens that are neither revoked nor expired, the most allowed; revoke some first.", s.maxTokens)
	}
	return s.tokens.Create(ctx, t)
}

// ListTokens lists the user's tokens.
func (s *Service) ListTokens(ctx context.Context, p *Principal, userID string, f apitoken.TokenFilter) (apitoken.TokenPage, error) {
	if err := authorize(p, apitoken.ScopeAPITokens, userID); err != nil {
		return apitoken.TokenPage{}, err
	}
	if _, err := s.targetUser(ctx, userID); err != nil {
		return apitoken.TokenPage{}, err
	}
	f.UserID, f.Now = userID, s.now()
	return s.tokens.List(ctx, f)
}

// ListAllTokens lists every user's tokens, or one user's with f.UserID; it
// is for admins only.
func (s *Service) ListAllTokens(ctx context.Context, p *Principal, f apitoken.TokenFilter) (apitoken.TokenPage, error) {
	if err := authorizeAdmin(p, apitoken.ScopeAPITokens, "list every user's tokens"); err != nil {
		return apitoken.TokenPage{}, err
	}
	f.Now = s.now()
	return s.tokens.List(ctx, f)
}

// GetToken returns one of the user's tokens, in any status.
func (s *Service) GetToken(ctx context.Context, p *Principal, userID, tokenID string) (apitoken.Token, error) {
	if err := authorize(p, apitoken.ScopeAPITokens, userID); err != nil {
		return apitoken.Token{}, err
	}
	if _, err := s.targetUser(ctx, userID); err != nil {
		return apitoken.Token{}, err
	}
	if !ValidID(tokenID) {
		return apitoken.Token{}, apitoken.Errorf(apitoken.NotFound, "API token not found")
	}
	return s.tokens.Get(ctx, userID, tokenID)
}

// UpdateToken changes a token's description, enabled flag or expiration.
// A revoked token cannot change.
func (s *Service) UpdateToken(ctx context.Context, p *Principal, userID, tokenID string, upd apitoken.TokenUpdate) (apitoken.Token, error) {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return apitoken.Token{}, err
	}
	return s.change(ctx, userID, tokenID, func(t *apitoken.Token) error {
		if t.RevokedAt != nil {
			return apitoken.Errorf(apitoken.Conflict, "The token has been revoked; it cannot change.")
		}
		ch, err := upd.Validate(t, s.now())
		if err != nil {
			return err
		}
		ch.Apply(t)
		return nil
	})
}

// RevokeToken revokes a token for good. Revoking it again changes nothing
// and succeeds.
func (s *Service) RevokeToken(ctx context.Context, p *Principal, userID, tokenID string) (apitoken.Token, error) {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return apitoken.Token{}, err
	}
	return s.change(ctx, userID, tokenID, s.revoke)
}

// RevokeTokenDirectly revokes a token with no caller to check: the command
// line's path. Revoking it again changes nothing and succeeds.
func (s *Service) RevokeTokenDirectly(ctx context.Context, userID, tokenID string) (apitoken.Token, error) {
	return s.change(ctx, userID, tokenID, s.revoke)
}

// revoke revokes the token now, unless it was revoked already.
func (s *Service) revoke(t *apitoken.Token) error {
	if t.RevokedAt == nil {
		now := s.now().UTC()
		t.RevokedAt = &now
	}
	return nil
}

// RevokeByValue revokes the token raw is, on the authority of holding it
// (RFC 7009). Anything that is not a token tokend would accept now (a
// forgery, an unknown, expired or already revoked token) is left alone
// without an error, so that the caller learns nothing from the answer;
// only a failure to reach the database is an error. Holding the token is
// authority enough: a caller's token that may revoke it adds nothing.
func (s *Service) RevokeByValue(ctx context.Context, raw string) error {
	_, t, _, err := s.known(ctx, raw, s.now())
	if apitoken.ErrorCode(err) == apitoken.Unauthorized || (err == nil && t.RevokedAt != nil) {
		return nil
	} else if err != nil {
		return err
	}
	_, err = s.change(ctx, t.UserID, t.ID, s.revoke)
	if apitoken.ErrorCode(err) == apitoken.NotFound {
		return nil
	}
	return err
}

// change applies fn to the user's token in one transaction, stamping
// UpdatedAt when fn changed something, and drops what the replica held of
// the token once it is committed.
func (s *Service) change(ctx context.Context, userID, tokenID string, fn func(*apitoken.Token) error) (apitoken.Token, error) {
	if _, err := s.targetUser(ctx, userID); err != nil {
		return apitoken.Token{}, err
	}
	if !ValidID(tokenID) {
		return apitoken.Token{}, apitoken.Errorf(apitoken.NotFound, "API token not found")
	}
	var t apitoken.Token
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		t, err = s.updateToken(ctx, userID, tokenID, fn)
		return err
	})
	if err == nil {
		s.creds.Forget([]string{t.ID}, nil)
	}
	return t, err
}

// updateToken applies fn to the user's token, in the caller's transaction
// when there is one, stamping UpdatedAt when fn changed something. The
// caller drops what the replica held of the token once the transaction
// is committed (Credentials.Forget).
func (s *Service) updateToken(ctx context.Context, userID, tokenID string, fn func(*apitoken.Token) error) (apitoken.Token, error) {
	return s.tokens.Update(ctx, userID, tokenID, func(t *apitoken.Token) error {
		before := *t
		if err := fn(t); err != nil {
			return err
		}
		s.stamp(&before, t)
		return nil
	})
}

// stamp stamps UpdatedAt on the token t, changed from before, if its state
// changed.
func (s *Service) stamp(before, t *apitoken.Token) {
	if sameState(before, t) {
		return
	}
	// A changed token is one with updated_at after created_at: the
	// revocation feed relies on it, even within a millisecond.
	t.UpdatedAt = s.now().UTC()
	if !t.UpdatedAt.After(t.CreatedAt.Add(time.Millisecond)) {
		t.UpdatedAt = t.CreatedAt.Add(time.Millisecond)
	}
}

func sameState(a, b *apitoken.Token) bool {
	return a.Description == b.Description && a.Enabled == b.Enabled &&
		a.Expiration.Equal(b.Expiration) && (a.RevokedAt == nil) == (b.RevokedAt == nil) &&
		a.RotatedTo == b.RotatedTo && a.RetirePrevious == b.RetirePrevious && (a.LeakedAt == nil) == (b.LeakedAt == nil)
}
