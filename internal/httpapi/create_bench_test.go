package httpapi_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
)

// createClients is how many clients create tokens at once.
const createClients = 8

// BenchmarkCreateToken measures POST /users/:userId/api-tokens from
// createClients clients at once, all minting tokens for one user with that
// user's api-tokens-write token, as automation does; rate limit off, cap
// out of reach. Compare it with BenchmarkRawInsert from the same run.
//
//	go test ./internal/httpapi -run '^$' -bench 'CreateToken|RawInsert' -benchtime=5s -count=3
func BenchmarkCreateToken(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d), env: map[string]string{
				"TOKEND_RATE_TOKEN_CREATES": "off", "TOKEND_MAX_TOKENS_PER_USER": "1000000000"}})
			user := h.user(apitoken.RoleMember)
			tok, _ := h.mint(user, tokenSpec{scope: "api-tokens-write customers", expiration: time.Now().Add(300 * 24 * time.Hour)})
			body := `{"data":{"type":"apiToken","attributes":{"description":"minted by automation","scope":"customers","expiration":"` +
				time.Now().Add(30*24*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z") + `"}}}`
			url := h.URL + tokensPath(user)
			client := benchClient()
			parallel(b, h.Store.SQL(), func() {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/vnd.api+json")
				sendOK(b, client, req, http.StatusCreated)
			})
		})
	}
}

// BenchmarkRawInsert is BenchmarkCreateToken's baseline: createClients
// clients at once each inserting a row of the same shape into api_tokens
// and committing, over the store's own connection pool.
func BenchmarkRawInsert(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			h := newHarness(b, options{dbURL: dbtest.NewURL(b, d)})
			user := h.user(apitoken.RoleMember)
			key := h.Ring.Records()[0].ID
			db := h.Store.SQL()
			q := "INSERT INTO api_tokens (id, user_id, description, scope, expiration, enabled, key_id, token_hash, created_at, updated_at, claim_expiration) " +
				"VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $8, $5)"
			parallel(b, db, func() {
				now := time.Now().UTC()
				hash := make([]byte, 32)
				rand.Read(hash)
				tx, err := db.BeginTx(context.Background(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Exec(q, uuid.Must(uuid.NewV7()).String(), user, "minted by automation", "customers", now.Add(30*24*time.Hour), key, hash, now); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// parallel runs op b.N times from createClients goroutines (rounded up
// to a multiple of GOMAXPROCS) and reports the rate, and the CPU time a
// row cost the benchmark's process (the server and its clients) and, on
// PostgreSQL, the server processes of db's database.
func parallel(b *testing.B, db *sql.DB, op func()) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((createClients + procs - 1) / procs)
	cpu := dbtest.StartCPU(db)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
	b.StopTimer()
	cpu.Report(b, "row")
}
