package service

import (
	"context"
	"crypto/subtle"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
)

// LeakReport is a token found where it should not be, such as in a public
// repository: the token string, and where it was found.
type LeakReport struct {
	Token string
	Leak  apitoken.Leak
}

// ReportLeaks handles reports of leaked tokens, such as GitHub's secret
// scanning sends, and returns for each whether it is a token of
// tokend's: a v2.public token whose signature verifies with one of
// tokend's keys, expired or not (zero false positives: nothing else
// verifies). Those are revoked, unless revoked already, and marked leaked
// (apitoken.Leak.Mark: the first report is kept), together, in one
// transaction; a token purged since is still tokend's, with nothing left
// to mark. Anyone may report: reporting revokes only tokens the reporter
// holds, as POST /revoke does.
func (s *Service) ReportLeaks(ctx context.Context, reports []LeakReport) ([]bool, error) {
	ours := make([]bool, len(reports))
	type found struct {
		sum  [32]byte
		leak apitoken.Leak
	}
	byID := map[string]found{}
	var ids []string
	for i, r := range reports {
		claims, err := verifier.ParseUnchecked(r.Token, s.keys)
		if err != nil {
			continue
		}
		ours[i] = true
		if _, seen := byID[claims.ID]; !seen && ValidID(claims.ID) {
			byID[claims.ID] = found{sum: verifier.TokenHash(r.Token), leak: r.Leak}
			ids = append(ids, claims.ID)
		}
	}
	if len(ids) == 0 {
		return ours, nil
	}
	now := s.now().UTC()
	var marked []apitoken.Token
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		marked, err = s.tokens.UpdateEach(ctx, ids, func(t *apitoken.Token) error {
			f := byID[t.ID]
			if subtle.ConstantTimeCompare(f.sum[:], t.Hash) == 1 {
				before := *t
				f.leak.Mark(t, now)
				s.stamp(&before, t)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	changed := make([]string, len(marked))
	for i, t := range marked {
		changed[i] = t.ID
	}
	s.creds.Forget(changed, nil)
	return ours, nil
}
