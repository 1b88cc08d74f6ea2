package verifier_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/verifier"
)

// feedBenchSize is how many revoked tokens BenchmarkFirstSync seeds:
// TOKEND_BENCH_REVOCATIONS, or a million.
func feedBenchSize(b *testing.B) int {
	b.Helper()
	v := os.Getenv("TOKEND_BENCH_REVOCATIONS")
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("TOKEND_BENCH_REVOCATIONS=%q is not a positive number", v)
	}
	return n
}

// seedRevoked adds n revoked tokens of one user to the server's database,
// with COPY on PostgreSQL and large transactions on SQLite, their exp
// claims spread over the coming year. Every chunk BulkCreate writes takes
// a change number, so all of them are in the revocation feed.
func seedRevoked(b testing.TB, srv *tokendtest.Server, n int) {
	b.Helper()
	ctx := context.Background()
	key, err := srv.Store.Keys.ActiveKey(ctx)
	if err != nil {
		b.Fatal(err)
	}
	user := srv.User(apitoken.RoleMember)
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	const batch = 100_000
	for done := 0; done < n; done += batch {
		toks := make([]apitoken.Token, min(batch, n-done))
		for i := range toks {
			hash := make([]byte, 32)
			rand.Read(hash)
			created := now.Add(-time.Hour)
			exp := now.Add(time.Duration(1+(done+i)%365*24) * time.Hour)
			toks[i] = apitoken.Token{
				ID: uuid.Must(uuid.NewV7()).String(), UserID: user, KeyID: key.ID, Hash: hash,
				Description: "revoked", Scope: "customers", Enabled: true,
				Expiration: exp, ClaimExpiration: exp, CreatedAt: created, UpdatedAt: now, RevokedAt: &now,
			}
		}
		if err := srv.Store.Tokens.BulkCreate(ctx, toks); err != nil {
			b.Fatal(err)
		}
	}
	// As autovacuum would have by the time anyone syncs: hint bits set,
	// statistics gathered.
	if srv.Store.Dialect() == store.Postgres {
		if _, err := srv.Store.SQL().ExecContext(ctx, "VACUUM (ANALYZE) api_tokens"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d revoked tokens in %s", n, time.Since(start).Round(time.Millisecond))
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkFirstSync measures a verifier's first sync of the revocation
// feed of a tokend holding TOKEND_BENCH_REVOCATIONS (default 1,000,000)
// revoked tokens, on SQLite and on PostgreSQL (with
// TOKEND_TEST_DATABASE_URL), over loopback: the server's queries and
// encoding, the transfer and the verifier's decoding and state. Beside
// ns/op it reports the verifier's heap bytes per revocation held. Its
// baselines, run against the same server and rows:
//
//   - select: the rows read with one raw SELECT, scanned and dropped, the
//     least any feed can cost;
//   - legacy: the feed as verifiers read it before (JSON pages of 1,000
//     tokens, decoded with encoding/json into a map of string ids).
//
// Run it alone, once (-benchtime 1x): seeding a million rows takes tens of
// seconds.
func BenchmarkFirstSync(b *testing.B) {
	n := feedBenchSize(b)
	for _, d := range dbtest.Dialects() {
		b.Run(d, func(b *testing.B) {
			srv := tokendtest.Start(b, tokendtest.Options{DatabaseURL: dbtest.NewURL(b, d)})
			seedRevoked(b, srv, n)
			feed, _ := srv.Mint(srv.AdminID, apitoken.ScopeIntrospect)
			b.Run("select", func(b *testing.B) {
				for range b.N {
					if got := selectFeedRows(b, srv); got < n {
						b.Fatalf("the SELECT read %d rows, want %d", got, n)
					}
				}
			})
			b.Run("legacy", func(b *testing.B) {
				for range b.N {
					before := heapInUse()
					wire := &countingTransport{}
					state := legacySync(b, srv.URL, feed, wire)
					b.StopTimer()
					b.ReportMetric(float64(heapInUse()-before)/float64(len(state)), "B/revocation")
					b.ReportMetric(float64(wire.n.Load())/float64(len(state)), "wire-B/revocation")
					if len(state) < n {
						b.Fatalf("the legacy sync holds %d revocations, want %d", len(state), n)
					}
					runtime.KeepAlive(state)
					b.StartTimer()
				}
			})
			b.Run("verifier", func(b *testing.B) {
				for range b.N {
					before := heapInUse()
					cpu := dbtest.ProcessCPU()
					wire := &countingTransport{}
					v, err := verifier.New(verifier.Config{TokendURL: srv.URL, FeedToken: feed, SyncInterval: time.Hour,
						HTTPClient: &http.Client{Transport: wire, Timeout: 10 * time.Second}})
					if err != nil {
						b.Fatal(err)
					}
					if err := v.Sync(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					b.ReportMetric((dbtest.ProcessCPU() - cpu).Seconds(), "cpu-s/op")
					held := verifier.Revocations(v)
					b.ReportMetric(float64(heapInUse()-before)/float64(held), "B/revocation")
					b.ReportMetric(float64(wire.n.Load())/float64(held), "wire-B/revocation")
					if held < n {
						b.Fatalf("the verifier holds %d revocations, want %d", held, n)
					}
					runtime.KeepAlive(v)
					b.StartTimer()
				}
			})
		})
	}
}

// selectFeedRows reads the feed's rows with one SELECT and returns how
// many it read.
func selectFeedRows(b *testing.B, srv *tokendtest.Server) int {
	b.Helper()
	q := "SELECT id, user_id, revoked_at, enabled, expiration, claim_expiration, change_seq FROM api_tokens" +
		" WHERE change_seq > 0 AND claim_expiration > $1 ORDER BY change_seq, id"
	rows, err := srv.Store.SQL().QueryContext(context.Background(), q, time.Now().UTC().Truncate(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	count := 0
	for rows.Next() {
		var id, user string
		var revoked *time.Time
		var enabled bool
		var exp, claim time.Time
		var seq int64
		if err := rows.Scan(&id, &user, &revoked, &enabled, &exp, &claim, &seq); err != nil {
			b.Fatal(err)
		}
		count++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return count
}

// legacyState is what a verifier kept per token before: the state, by
// string id, in a map.
type legacyState struct {
	revoked, enabled bool
	expiration, exp  time.Time
}

// legacySync reads the whole feed as verifiers did before: JSON pages of
// 1,000 tokens, without compression, decoded with encoding/json.
func legacySync(b *testing.B, base, feed string, wire *countingTransport) map[string]legacyState {
	b.Helper()
	wire.base = &http.Transport{DisableCompression: true}
	client := &http.Client{Transport: wire, Timeout: 10 * time.Second}
	state := map[string]legacyState{}
	cursor := ""
	for {
		var page struct {
			Cursor string `json:"cursor"`
			More   bool   `json:"more"`
			Tokens []struct {
				ID         string    `json:"jti"`
				Revoked    bool      `json:"revoked"`
				Enabled    bool      `json:"enabled"`
				Expiration time.Time `json:"expiration"`
				Exp        time.Time `json:"exp"`
			} `json:"tokens"`
		}
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/revocations?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+feed)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("legacy sync: %s", resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(fmt.Errorf("legacy sync: %w", err))
		}
		for _, t := range page.Tokens {
			state[t.ID] = legacyState{revoked: t.Revoked, enabled: t.Enabled, expiration: t.Expiration, exp: t.Exp}
		}
		cursor = page.Cursor
		if !page.More {
			return state
		}
	}
}

// countingTransport counts the bytes of the answers' bodies as they come
// over the wire, compressed or not.
type countingTransport struct {
	base http.RoundTripper // default: http.DefaultTransport
	n    atomic.Int64
}

// RoundTrip implements http.RoundTripper.
func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
