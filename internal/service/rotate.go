package service

import (
	"context"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// RotateToken replaces one of the user's tokens with a new one on the
// caller's behalf (SPEC §6): the new token has the old one's description,
// scope, sourceIp and resources, and the rotation's expiration (by default
// the old token's lifetime from now); the old one names it in rotatedTo and
// stops working at the rotation's previousExpiration (by default at once),
// or at the new one's first successful use if the request asks. It returns
// the new token's metadata and its token string, shown once.
//
// The no-escalation rules apply to the new token as to any the caller
// creates (apitoken.CheckGrant), with one allowance: a token rotating
// itself may give its successor its own lifetime again from now, which is
// how automation renews its credential; a rotation by any other token of
// the same user (or of an admin) grants no later expiration than that
// token's own, and its default expiration stays within it.
func (s *Service) RotateToken(ctx context.Context, p *Principal, userID, tokenID string, req apitoken.RotationRequest) (apitoken.Token, string, error) {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return apitoken.Token{}, "", err
	}
	user, err := s.userFor(ctx, p, userID)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	g := p.grantor()
	return s.rotate(ctx, user, tokenID, req, &g, p.Token.ID)
}

// RotateTokenDirectly rotates one of the user's tokens as RotateToken
// does, with no caller to check: the command line's path, for operators
// with access to the database. The new token still carries only scopes
// the user may hold.
func (s *Service) RotateTokenDirectly(ctx context.Context, userID, tokenID string, req apitoken.RotationRequest) (apitoken.Token, string, error) {
	user, err := s.targetUser(ctx, userID)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	return s.rotate(ctx, user, tokenID, req, nil, "")
}

// rotate rotates the user's token with the id. g is the caller's token as
// the new one's grantor, nil for none; callerID is that token's id.
func (s *Service) rotate(ctx context.Context, user apitoken.User, tokenID string, req apitoken.RotationRequest, g *apitoken.Grantor, callerID string) (apitoken.Token, string, error) {
	if !ValidID(tokenID) {
		return apitoken.Token{}, "", apitoken.Errorf(apitoken.NotFound, "API token not found")
	}
	old, err := s.tokens.Get(ctx, user.ID, tokenID)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	now := s.now().UTC()
	if err := old.CheckRotatable(now); err != nil {
		return apitoken.Token{}, "", err
	}
	if user.Disabled {
		return apitoken.Token{}, "", apitoken.Errorf(apitoken.Conflict, "The user is disabled; enable it before rotating its tokens.")
	}
	var limit time.Time
	if g != nil {
		if callerID == old.ID {
			// A token renewing itself: its own lifetime again.
			if renewal := old.RenewalLimit(now); renewal.After(g.Expiration) {
				g.Expiration = renewal
			}
		}
		limit = g.Limit(&user)
	}
	policy := s.TokenPolicy()
	policy.Now = now
	rot, err := req.Validate(&old, policy, limit)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	spec, err := old.SuccessorSpec(&user, s.catalog, rot)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	if g != nil {
		if err := apitoken.CheckGrant(*g, &user, s.catalog, spec); err != nil {
			return apitoken.Token{}, "", err
		}
	}
	t, raw, err := s.mint(ctx, user, spec, now)
	if err != nil {
		return apitoken.Token{}, "", err
	}
	t.RotatedFrom, t.RetirePrevious = old.ID, rot.RetireOnFirstUse
	// One transaction: the old token retired (or its grace set), then the
	// new one counted against the cap (the old one no longer counts if it
	// retired at once) and stored. A rotation or revocation of the old
	// token that committed first wins, and this one is a conflict.
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		_, err := s.updateToken(ctx, user.ID, old.ID, func(o *apitoken.Token) error {
			if err := o.CheckRotatable(now); err != nil {
				return err
			}
			rot.Retire(o, t.ID)
			return nil
		})
		if err != nil {
			return err
		}
		return s.createCounted(ctx, &t, now)
	})
	if err != nil {
		return apitoken.Token{}, "", err
	}
	s.creds.Forget([]string{old.ID}, nil)
	return t, raw, nil
}

// retirePrevious retires the token t replaced, at at, t's first successful
// use: in one transaction, t's pending retirement is cleared and the old
// token's expiration moved to at, unless it is earlier or the token was
// revoked (or purged) since. Uses of t on other replicas, or in requests
// running here at once, find nothing pending any more, and change nothing;
// the uses of t in flight here wait for the first, so none returns before
// the old token is retired.
func (s *Service) retirePrevious(ctx context.Context, t *apitoken.Token, at time.Time) error {
	_, err, _ := s.retiring.Do(t.ID, func() (any, error) {
		err := s.tx.InTx(ctx, func(ctx context.Context) error {
			// Both rows are locked first, in id order, as every writer of
			// several tokens locks them (a flush of uses), so that none
			// deadlocks with this; a function that changes nothing writes
			// nothing.
			pending := false
			_, err := s.tokens.UpdateEach(ctx, []string{t.ID, t.RotatedFrom}, func(tok *apitoken.Token) error {
				if tok.ID == t.ID {
					pending = tok.RetirePrevious
				}
				return nil
			})
			if err != nil || !pending {
				return err
			}
			_, err = s.updateToken(ctx, t.UserID, t.ID, func(n *apitoken.Token) error {
				n.RetirePrevious = false
				return nil
			})
			if err != nil {
				return err
			}
			_, err = s.updateToken(ctx, t.UserID, t.RotatedFrom, func(o *apitoken.Token) error {
				if o.RevokedAt == nil && at.Before(o.Expiration) {
					o.Expiration = at
				}
				return nil
			})
			if apitoken.ErrorCode(err) == apitoken.NotFound {
				return nil
			}
			return err
		})
		if err == nil {
			s.creds.Forget([]string{t.ID, t.RotatedFrom}, nil)
		}
		return nil, err
	})
	return err
}

// RevokeAllTokens revokes every token of the user that works or could
// work again (neither revoked nor expired; disabled ones included) on the
// caller's behalf, and returns how many it revoked. Doing it again revokes
// none. A user within the default cap of live tokens is revoked in one
// transaction; one holding more, in transactions of 1,000 tokens on
// SQLite and 5,000 on PostgreSQL (store.Tokens.RevokeAll).
func (s *Service) RevokeAllTokens(ctx context.Context, p *Principal, userID string) (int, error) {
	if err := authorize(p, apitoken.ScopeAPITokensWrite, userID); err != nil {
		return 0, err
	}
	return s.RevokeAllTokensDirectly(ctx, userID)
}

// RevokeAllTokensDirectly revokes every token of the user as
// RevokeAllTokens does, with no caller to check: the command line's path.
func (s *Service) RevokeAllTokensDirectly(ctx context.Context, userID string) (int, error) {
	if _, err := s.targetUser(ctx, userID); err != nil {
		return 0, err
	}
	ids, err := s.tokens.RevokeAll(ctx, userID, s.now())
	// The batches done before a failure stay done.
	s.creds.Forget(ids, nil)
	return len(ids), err
}
