package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// BootstrapEmail is the email of the admin that the first start creates.
const BootstrapEmail = "admin@tokend.local"

// CreateUser creates a user on an admin's behalf.
func (s *Service) CreateUser(ctx context.Context, p *Principal, req apitoken.UserRequest) (apitoken.User, error) {
	if err := authorizeAdmin(p, apitoken.ScopeUsersWrite, "manage users"); err != nil {
		return apitoken.User{}, err
	}
	return s.AddUser(ctx, req)
}

// MayManageUsers returns an error unless the caller may create users or,
// when userID is set, change that user, which must exist. Handlers call it
// before they read a request body, as MayWriteTokens.
func (s *Service) MayManageUsers(ctx context.Context, p *Principal, userID string) error {
	if err := authorizeAdmin(p, apitoken.ScopeUsersWrite, "manage users"); err != nil || userID == "" {
		return err
	}
	_, err := s.targetUser(ctx, userID)
	return err
}

// AddUser creates a user with no caller to check: the command line's path.
func (s *Service) AddUser(ctx context.Context, req apitoken.UserRequest) (apitoken.User, error) {
	u, err := req.Validate(s.catalog)
	if err != nil {
		return apitoken.User{}, err
	}
	now := s.now().UTC()
	u.ID, u.CreatedAt, u.UpdatedAt = newID(), now, now
	if err := s.tx.InTx(ctx, func(ctx context.Context) error { return s.users.Create(ctx, &u) }); err != nil {
		return apitoken.User{}, err
	}
	return u, nil
}

// GetUser returns a user. Every user may read itself, with any of its
// tokens; reading another user takes an admin and the users scope.
func (s *Service) GetUser(ctx context.Context, p *Principal, userID string) (apitoken.User, error) {
	if userID != p.User.ID {
		if err := authorizeAdmin(p, apitoken.ScopeUsers, "manage users"); err != nil {
			return apitoken.User{}, err
		}
	}
	return s.targetUser(ctx, userID)
}

// ListUsers lists every user; it is for admins only.
func (s *Service) ListUsers(ctx context.Context, p *Principal, limit, offset int) ([]apitoken.User, int64, error) {
	if err := authorizeAdmin(p, apitoken.ScopeUsers, "manage users"); err != nil {
		return nil, 0, err
	}
	return s.users.List(ctx, limit, offset)
}

// UpdateUser changes a user's role, scopes, service flag or disabled flag on
// an admin's behalf; only the attributes it changes are checked. Admins
// cannot demote or disable themselves, so that tokend always keeps an admin
// who can undo a mistake.
func (s *Service) UpdateUser(ctx context.Context, p *Principal, userID string, upd apitoken.UserUpdate) (apitoken.User, error) {
	if err := authorizeAdmin(p, apitoken.ScopeUsersWrite, "manage users"); err != nil {
		return apitoken.User{}, err
	}
	if !ValidID(userID) {
		return apitoken.User{}, apitoken.Errorf(apitoken.NotFound, "user not found")
	}
	return s.updateUser(ctx, userID, func(u *apitoken.User) error {
		if err := upd.Apply(u, s.catalog); err != nil {
			return err
		}
		if u.ID == p.User.ID && (u.Role != apitoken.RoleAdmin || u.Disabled) {
			return apitoken.Errorf(apitoken.Conflict, "Admins cannot demote or disable themselves.")
		}
		return nil
	})
}

// updateUser applies fn to the user in one transaction, stamping UpdatedAt.
// Whoever asks, the last enabled admin is neither disabled nor demoted, so
// that someone can always undo a mistake.
func (s *Service) updateUser(ctx context.Context, userID string, fn func(*apitoken.User) error) (apitoken.User, error) {
	var u apitoken.User
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		admins, err := s.users.ActiveAdmins(ctx)
		if err != nil {
			return err
		}
		u, err = s.users.Update(ctx, userID, func(u *apitoken.User) error {
			wasAdmin := slices.Contains(admins, u.ID)
			if err := fn(u); err != nil {
				return err
			}
			if wasAdmin && len(admins) == 1 && (u.Role != apitoken.RoleAdmin || u.Disabled) {
				return apitoken.Errorf(apitoken.Conflict, "This is the last enabled admin: make another user an admin first.")
			}
			u.UpdatedAt = s.now().UTC()
			return nil
		})
		return err
	})
	if err == nil {
		s.creds.Forget(nil, []string{u.ID})
	}
	return u, err
}

// SetUserDisabled disables or enables a user with no caller to check: the
// command line's path.
func (s *Service) SetUserDisabled(ctx context.Context, userID string, disabled bool) (apitoken.User, error) {
	if !ValidID(userID) {
		return apitoken.User{}, apitoken.Errorf(apitoken.NotFound, "user not found")
	}
	return s.updateUser(ctx, userID, func(u *apitoken.User) error {
		u.Disabled = disabled
		return nil
	})
}

// Bootstrap creates the first admin and a token for it holding every scope,
// if and only if there are no users yet, in one transaction. It returns the
// token string, or "" when users already existed. Replicas starting
// together on an empty database bootstrap once between them.
func (s *Service) Bootstrap(ctx context.Context) (apitoken.User, string, error) {
	now := s.now().UTC()
	u := apitoken.User{ID: newID(), Email: BootstrapEmail, Role: apitoken.RoleAdmin, CreatedAt: now, UpdatedAt: now}
	var all []string
	for _, sc := range s.catalog.All() {
		all = append(all, sc.Name)
	}
	var raw string
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		created, err := s.users.CreateFirst(ctx, &u)
		if err != nil || !created {
			return err
		}
		// Whole seconds, as every expiration: the stored one is then the
		// token's exp claim.
		_, raw, err = s.issue(ctx, u, apitoken.TokenSpec{
			Description: "Bootstrap admin token",
			Scope:       strings.Join(all, " "),
			Scopes:      all,
			Expiration:  now.Add(s.maxLife).Truncate(time.Second),
		})
		return err
	})
	if err != nil || raw == "" {
		return apitoken.User{}, "", err
	}
	return u, raw, nil
}

// authorizeAdmin checks that the caller's token holds the scope and that
// the caller is an admin; action completes "Only admins may …".
func authorizeAdmin(p *Principal, scope, action string) error {
	if !p.HasScope(scope) {
		return missingScope(scope)
	}
	if !p.IsAdmin() {
		return apitoken.Errorf(apitoken.Forbidden, "Only admins may %s.", action)
	}
	return nil
}
