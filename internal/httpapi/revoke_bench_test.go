package httpapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// revokePool is how many active tokens the revocation benchmarks draw
// from: more than a run revokes.
const revokePool = 200_000

// activePool stores revokePool active tokens of a new user and returns the
// user and the tokens' ids.
func activePool(b *testing.B, h *harness) (string, []string) {
	b.Helper()
	user := h.user(apitoken.RoleMember)
	toks := dbtest.MixedTokens(user, h.Ring.Records()[0].ID, revokePool, time.Now())
	ids := make([]string, len(toks))
	for i := range toks {
		toks[i].Enabled, toks[i].RevokedAt = true, nil
		toks[i].Expiration = time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
		toks[i].ClaimExpiration = toks[i].Expiration
		ids[i] = toks[i].ID
	}
	if err := h.Store.Tokens.BulkCreate(context.Background(), toks); err != nil {
		b.Fatal(err)
	}
	return user, ids
}

// BenchmarkRevokeToken measures DELETE /users/:userId/api-tokens/:tokenId
// from createClients clients at once, each revoking another active token:
// a revocation takes the next change number (which every replica and
// verifier follows), whose counter row stays locked until the commit, so
// revocations commit one after another. Compare it with BenchmarkRawRevoke
// from the same run.
//
//	go test ./internal/httpapi -run '^$' -bench 'RevokeToken|RawRevoke' -benchtime=4s -count=3
func BenchmarkRevokeToken(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d)})
			user, ids := activePool(b, h)
			var next atomic.Int64
			client := benchClient()
			parallel(b, h.Store.SQL(), func() {
				id := ids[int(next.Add(1)-1)%len(ids)]
				req, _ := http.NewRequest(http.MethodDelete, h.URL+tokenPath(user, id), nil)
				req.Header.Set("Authorization", "Bearer "+h.AdminToken)
				sendOK(b, client, req, http.StatusOK)
			})
		})
	}
}

// BenchmarkRawRevoke is BenchmarkRevokeToken's baseline: createClients
// clients at once each setting revoked_at on another token's row and
// committing, over the store's own connection pool, with no change number.
func BenchmarkRawRevoke(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d)})
			_, ids := activePool(b, h)
			db := h.Store.SQL()
			var next atomic.Int64
			parallel(b, db, func() {
				id := ids[int(next.Add(1)-1)%len(ids)]
				tx, err := db.BeginTx(context.Background(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Exec("UPDATE api_tokens SET revoked_at = $1, updated_at = $1 WHERE id = $2", time.Now().UTC(), id); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
