// Package service is tokend's application layer. It authenticates presented
// tokens, authorizes callers, enforces the no-escalation rules, and carries
// out token and user operations. The HTTP API and the command line both go
// through it, so a rule holds whichever way a request arrives.
package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/pkg/verifier"
)

// Leeway is the clock skew tolerated between replicas for a token's nbf and
// iat claims. Expiry is checked without leeway against the stored expiration.
const Leeway = 5 * time.Second

// Config holds the service's settings.
type Config struct {
	// Issuer is the iss claim of every token.
	Issuer string
	// MaxLifetime is the longest a new token may live.
	MaxLifetime time.Duration
	// MaxTokensPerUser bounds a user's tokens that are neither revoked nor
	// expired; 0 means 1000.
	MaxTokensPerUser int
	// Retention is how long tokens are kept after they stopped working,
	// revoked or expired, before PurgeTokens deletes them; 0 keeps them
	// for ever.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service carries out tokend's operations.
type Service struct {
	tx      Transactor
	users   UserStore
	tokens  TokenStore
	changes ChangeLog
	audit   AuditLog
	creds   Credentials
	keys    KeyRing
	catalog *apitoken.Catalog
	issuer  string
	maxLife time.Duration
	// maxTokens bounds a user's live tokens.
	maxTokens int
	retention time.Duration
	purged    atomic.Int64 // tokens PurgeTokens deleted
	now       func() time.Time
	usage     usageLog
	// retiring runs one retirement of a rotated token per new token at a
	// time (see retirePrevious).
	retiring singleflight.Group
	// memo remembers the tokens whose signature verified, so that a token
	// used again is not verified again: the Ed25519 check is most of the
	// cost of authenticating.
	memo *verifier.Memo
}

// New returns a service over its dependencies.
func New(d Deps, cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.MaxTokensPerUser <= 0 {
		cfg.MaxTokensPerUser = 1000
	}
	return &Service{
		tx: d.Tx, users: d.Users, tokens: d.Tokens, changes: d.Changes, audit: d.Audit, creds: d.Credentials, keys: d.Keys, catalog: d.Catalog,
		issuer: cfg.Issuer, maxLife: cfg.MaxLifetime, maxTokens: cfg.MaxTokensPerUser, retention: cfg.Retention, now: now,
		memo: verifier.NewMemo(verifier.DefaultMemoSize),
	}
}

// Catalog returns the scope catalog.
func (s *Service) Catalog() *apitoken.Catalog { return s.catalog }

// Principal is an authenticated caller: the user, the token it presented,
// and what that token may do.
type Principal struct {
	User  apitoken.User
	Token apitoken.Token
	// Scopes are the token's scopes that its user may still hold.
	Scopes   []string
	ClientIP netip.Addr
	// UserAgent is the client's, as the transport saw it; "" if unknown.
	UserAgent string
	// at is when the token was authenticated.
	at time.Time
}

// HasScope reports whether the caller's token holds the scope.
func (p *Principal) HasScope(scope string) bool {
	return slices.Contains(p.Scopes, scope)
}

// IsAdmin reports whether the caller is an admin.
func (p *Principal) IsAdmin() bool { return p.User.Role == apitoken.RoleAdmin }

// Actor returns the caller as the audit log records the changes it makes.
func (p *Principal) Actor() audit.Actor {
	a := audit.Actor{UserID: p.User.ID, TokenID: p.Token.ID, UserAgent: p.UserAgent}
	if p.ClientIP.IsValid() {
		a.SourceIP = p.ClientIP.String()
	}
	return a
}

// Authenticate verifies a presented token: its signature, issuer and
// validity period, then its stored state and its user's. A token that fails
// any check is unauthorized; a valid token used from an address outside its
// sourceIp is forbidden. It records no use: the caller does, with
// RecordUse, once the request is authorized too.
func (s *Service) Authenticate(ctx context.Context, raw string, clientIP netip.Addr) (*Principal, error) {
	now := s.now()
	claims, t, u, err := s.known(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	switch t.Status(now) {
	case apitoken.StatusRevoked:
		return nil, unauthorized("The token has been revoked.")
	case apitoken.StatusExpired:
		return nil, unauthorized("The token has expired.")
	case apitoken.StatusDisabled:
		return nil, unauthorized("The token is disabled.")
	}
	if u.Disabled {
		return nil, unauthorized("The token's user is disabled.")
	}
	if t.SourceIP != "" {
		allowed, err := apitoken.ParseSourceIPs(t.SourceIP)
		if err != nil || !clientIP.IsValid() || !allowed.Contains(clientIP) {
			return nil, apitoken.Errorf(apitoken.Forbidden, "The token may not be used from %s.", clientIP)
		}
	}
	var scopes []string
	for sc := range strings.FieldsSeq(claims.Scope) {
		if u.MayHold(s.catalog, sc) {
			scopes = append(scopes, sc)
		}
	}
	return &Principal{User: u, Token: t, Scopes: scopes, ClientIP: clientIP, at: now}, nil
}

// known finds the token raw is: its signature, issuer and validity period
// verify, and the stored token with its hash and subject, with its user's
// state. Whether the token still works is the caller's to check. A token
// that is not one tokend issued is unauthorized.
func (s *Service) known(ctx context.Context, raw string, now time.Time) (*verifier.Claims, apitoken.Token, apitoken.User, error) {
	sum := verifier.TokenHash(raw)
	claims, err := s.memo.Parse(raw, sum, s.keys, verifier.Options{Issuer: s.issuer, Now: now, Leeway: Leeway})
	if err != nil {
		return claims, apitoken.Token{}, apitoken.User{}, unauthorized(detailFor(err))
	}
	t, u, err := s.creds.Credential(ctx, claims.ID)
	if apitoken.ErrorCode(err) == apitoken.NotFound {
		return claims, t, u, unauthorized("The token is not known.")
	} else if err != nil {
		return claims, t, u, err
	}
	if subtle.ConstantTimeCompare(sum[:], t.Hash) != 1 || t.UserID != claims.Subject {
		return claims, t, u, unauthorized("The token is not known.")
	}
	return claims, t, u, nil
}

func unauthorized(detail string) error {
	return apitoken.Errorf(apitoken.Unauthorized, "%s", detail)
}

// detailFor explains a verification failure without revealing more than
// the client can already see in its own token.
func detailFor(err error) string {
	switch {
	case errors.Is(err, verifier.ErrUnsupported):
		return "Only v2.public tokens are accepted."
	case errors.Is(err, verifier.ErrUnknownKey):
		return "The token is signed by a key tokend does not know, or has retired."
	case errors.Is(err, verifier.ErrSignature):
		return "The token's signature is invalid."
	case errors.Is(err, verifier.ErrIssuer):
		return "The token was issued by another issuer."
	case errors.Is(err, verifier.ErrExpired):
		return "The token has expired."
	case errors.Is(err, verifier.ErrNotYetValid):
		return "The token is not valid yet."
	}
	return "The token is malformed."
}

// authorize checks that the caller's token holds the scope and that the
// caller may act for the user: members only for themselves.
func authorize(p *Principal, scope, userID string) error {
	if !p.HasScope(scope) {
		return missingScope(scope)
	}
	if !p.IsAdmin() && userID != p.User.ID {
		return apitoken.Errorf(apitoken.Forbidden, "Members may only act on their own tokens.")
	}
	return nil
}

// missingScope is the error for a token that lacks a scope.
func missingScope(scope string) error {
	return &apitoken.Error{Code: apitoken.Forbidden, Scope: scope, Detail: fmt.Sprintf("The token lacks the %q scope.", scope)}
}

// targetUser returns the user a request acts on. A malformed id is simply
// not found.
func (s *Service) targetUser(ctx context.Context, userID string) (apitoken.User, error) {
	if !ValidID(userID) {
		return apitoken.User{}, apitoken.Errorf(apitoken.NotFound, "user not found")
	}
	return s.users.Get(ctx, userID)
}

// ValidID reports whether id is a resource id tokend could have issued: a
// UUID in canonical lower-case form.
func ValidID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Ready returns nil when the service can vouch for tokens and reach the
// database, and an unavailable error otherwise.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.creds.Fresh(); err != nil {
		return err
	}
	return s.tx.Ping(ctx)
}

// Issuer returns the iss claim of tokend's tokens.
func (s *Service) Issuer() string { return s.issuer }

// SigningKeys returns every signing key, oldest first, from memory.
func (s *Service) SigningKeys() []keys.Record { return s.keys.Records() }
