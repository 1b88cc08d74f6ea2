package service

import (
	"context"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/pkg/verifier"
)

// The service's dependencies, declared here as the service uses them.
// Package store implements the storage ones and package keys the key ring;
// tests and later layers may stand in with their own.
type (
	// Transactor runs a unit of work in one transaction: every store call
	// made with the context fn is given commits with the others, or none
	// does. Calls within a transaction join it.
	Transactor interface {
		InTx(ctx context.Context, fn func(ctx context.Context) error) error
		Ping(ctx context.Context) error
	}

	// UserStore keeps users.
	UserStore interface {
		Create(ctx context.Context, u *apitoken.User) error
		CreateFirst(ctx context.Context, u *apitoken.User) (bool, error)
		Get(ctx context.Context, id string) (apitoken.User, error)
		List(ctx context.Context, limit, offset int) ([]apitoken.User, int64, error)
		// Update reads the user, lets fn change it and writes it back,
		// in one transaction.
		Update(ctx context.Context, id string, fn func(*apitoken.User) error) (apitoken.User, error)
		ChangedUsers(ctx context.Context, after apitoken.Position, limit int) ([]apitoken.UserState, error)
		// ActiveAdmins returns the enabled admins' ids and locks them
		// until the transaction ends.
		ActiveAdmins(ctx context.Context) ([]string, error)
	}

	// TokenStore keeps tokens' metadata.
	TokenStore interface {
		Create(ctx context.Context, t *apitoken.Token) error
		// Get returns the token, which must belong to the user unless
		// userID is "".
		Get(ctx context.Context, userID, id string) (apitoken.Token, error)
		List(ctx context.Context, f apitoken.TokenFilter) (apitoken.TokenPage, error)
		// Update reads the user's token, lets fn change it and writes it
		// back, in one transaction.
		Update(ctx context.Context, userID, id string, fn func(*apitoken.Token) error) (apitoken.Token, error)
		// UpdateEach lets fn change each of the tokens with the ids,
		// whoever's they are, in one transaction, and returns those found.
		UpdateEach(ctx context.Context, ids []string, fn func(*apitoken.Token) error) ([]apitoken.Token, error)
		RecordUses(ctx context.Context, uses map[string]apitoken.Usage) error
		// RevokeAll revokes every token of the user neither revoked nor
		// expired at now and returns their ids, in short transactions of
		// its own (not within InTx), as many as it takes.
		RevokeAll(ctx context.Context, userID string, now time.Time) ([]string, error)
		// CreateBelow creates the token if its user holds fewer than
		// below live tokens at now, and reports whether it did.
		CreateBelow(ctx context.Context, t *apitoken.Token, now time.Time, below int64) (bool, error)
		// CountLive counts the user's tokens neither revoked nor expired
		// at now; with lock, it locks the user until the transaction
		// ends, after the creations in flight.
		CountLive(ctx context.Context, userID string, now time.Time, lock bool) (int64, error)
		ChangedTokens(ctx context.Context, after apitoken.Position, notExpiredAt time.Time, limit int) ([]apitoken.TokenState, error)
		// Purge deletes the tokens that stopped working (revoked or
		// expired, whichever came first) before stoppedBefore and whose
		// exp claim passed before claimExpiredBefore, in short batches.
		Purge(ctx context.Context, stoppedBefore, claimExpiredBefore time.Time) (int64, error)
	}

	// AuditLog lists the audit log's events.
	AuditLog interface {
		ListEvents(ctx context.Context, f audit.Filter) (audit.Page, error)
	}

	// ChangeLog numbers the changes of tokens, users and keys in commit
	// order.
	ChangeLog interface {
		ChangeSeq(ctx context.Context) (int64, error)
	}

	// Credentials gives what authenticating a token needs: its metadata
	// and its user's. Forget tells it which tokens and users changed here,
	// once the change is committed, so that a change made on this replica
	// takes effect on it at once.
	Credentials interface {
		Credential(ctx context.Context, tokenID string) (apitoken.Token, apitoken.User, error)
		Forget(tokenIDs, userIDs []string)
		// Fresh returns an unavailable error while the credentials it
		// holds cannot be vouched for.
		Fresh() error
	}

	// KeyRing signs tokens with the active key and gives the keys that
	// verify them.
	KeyRing interface {
		verifier.KeySet
		Sign(ctx context.Context, c verifier.Claims) (token, kid string, err error)
		// Records returns every key, oldest first, from memory.
		Records() []keys.Record
	}
)

// Deps are the parts a Service is built from.
type Deps struct {
	Tx          Transactor
	Users       UserStore
	Tokens      TokenStore
	Changes     ChangeLog
	Audit       AuditLog
	Credentials Credentials
	Keys        KeyRing
	Catalog     *apitoken.Catalog
}
