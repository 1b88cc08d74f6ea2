package service

import (
	"context"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

// ListAuditEvents lists the events of the whole audit log the filter
// selects; it is for admins holding the audit scope.
func (s *Service) ListAuditEvents(ctx context.Context, p *Principal, f audit.Filter) (audit.Page, error) {
	if err := authorizeAdmin(p, apitoken.ScopeAudit, "read the audit log"); err != nil {
		return audit.Page{}, err
	}
	return s.audit.ListEvents(ctx, f)
}

// ListUserAuditEvents lists the events of the user's own audit log (those
// of its tokens and of the user itself) the filter selects: members read
// their own, admins anyone's, with the api-tokens scope.
func (s *Service) ListUserAuditEvents(ctx context.Context, p *Principal, userID string, f audit.Filter) (audit.Page, error) {
	if err := authorize(p, apitoken.ScopeAPITokens, userID); err != nil {
		return audit.Page{}, err
	}
	if _, err := s.targetUser(ctx, userID); err != nil {
		return audit.Page{}, err
	}
	f.UserID = userID
	return s.audit.ListEvents(ctx, f)
}
