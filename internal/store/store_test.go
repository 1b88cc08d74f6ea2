package store_test

import (
	"context"
	"crypto/ed25519"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/paserk"
)

// eachDialect runs fn in parallel subtests, one per dialect in
// dbtest.Dialects.
func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// MustOpenDB returns a migrated store on a fresh database of the dialect.
func MustOpenDB(tb testing.TB, dialect string) *store.Store {
	tb.Helper()
	return dbtest.MustOpen(tb, dialect)
}

// base is a time with more than millisecond precision, to check that the
// store keeps milliseconds, as tokend shows them.
var base = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// newUser returns a member created at the time.
func newUser(created time.Time) apitoken.User {
	return apitoken.User{
		ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: apitoken.RoleMember,
		CreatedAt: created, UpdatedAt: created,
	}
}

// MustCreateUser stores the user or fails the test.
func MustCreateUser(tb testing.TB, st *store.Store, u apitoken.User) apitoken.User {
	tb.Helper()
	if err := st.Users.Create(context.Background(), &u); err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u
}

// newKey returns an active signing key record created at the time. Its
// sealed key is opaque bytes: the store does not open it.
func newKey(tb testing.TB, created time.Time) keys.Record {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return keys.Record{
		ID: paserk.PublicID(pub), PublicKey: pub, SealedKey: []byte("sealed " + uuid.NewString()),
		Status: keys.Active, CreatedAt: created,
	}
}

// MustCreateKey stores a new active key or fails the test.
func MustCreateKey(tb testing.TB, st *store.Store, created time.Time) keys.Record {
	tb.Helper()
	k := newKey(tb, created)
	if err := st.Keys.InsertActiveKey(context.Background(), k); err != nil {
		tb.Fatalf("insert key: %v", err)
	}
	return k
}

// newToken returns an enabled token of the user, signed by the key,
// created at the time and expiring a day later.
func newToken(userID, keyID string, created time.Time) apitoken.Token {
	return apitoken.Token{
		ID: uuid.NewString(), UserID: userID, Description: "token", Scope: "customers",
		Expiration: created.Add(24 * time.Hour), Enabled: true, KeyID: keyID,
		Hash: []byte(uuid.NewString()), CreatedAt: created, UpdatedAt: created,
	}
}

// MustCreateToken stores the token or fails the test. A token without an
// exp claim gets its expiration as one, as when it is issued.
func MustCreateToken(tb testing.TB, st *store.Store, tok apitoken.Token) apitoken.Token {
	tb.Helper()
	if tok.ClaimExpiration.IsZero() {
		tok.ClaimExpiration = tok.Expiration
	}
	if err := st.Tokens.Create(context.Background(), &tok); err != nil {
		tb.Fatalf("create token: %v", err)
	}
	return tok
}

// rawDB opens the database at a dbtest URL directly, to look at what the
// store wrote.
func rawDB(tb testing.TB, url string) *gorm.DB {
	tb.Helper()
	var d gorm.Dialector
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		d = sqlite.Open("file:" + path)
	} else {
		d = postgres.Open(url)
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		tb.Fatalf("open %s directly: %v", d.Name(), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sqlDB.Close() })
	return db
}

func TestOpenAnUnreachablePostgreSQLIsUnavailableQuickly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
	}{
		{"a port nobody listens on", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2&sslmode=disable"},
		{"a port nobody listens on, with the default connect timeout", "postgresql://postgres@127.0.0.1:1/x?sslmode=disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := store.Open(ctx, tt.url)
			took := time.Since(start)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if code := apitoken.ErrorCode(err); code != apitoken.Unavailable {
				t.Fatalf("Open = %v with code %q, want %q", err, code, apitoken.Unavailable)
			}
			if took > 5*time.Second {
				t.Fatalf("Open took %s to fail, want a quick failure", took)
			}
		})
	}
}

// silentServer accepts TCP connections and never answers, like a database
// host that hangs, and returns its address.
func silentServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestOpenAHangingPostgreSQLIsUnavailableWithinItsTimeout(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	tests := []struct {
		name     string
		url      string
		deadline time.Duration
		limit    time.Duration
	}{
		{"the URL's connect_timeout ends the wait", "postgres://postgres@" + addr + "/x?sslmode=disable&connect_timeout=1", 30 * time.Second, 3 * time.Second},
		{"the context's deadline ends the wait", "postgres://postgres@" + addr + "/x?sslmode=disable", 300 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			start := time.Now()
			st, err := store.Open(ctx, tt.url)
			took := time.Since(start)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded against a server that never answers")
			}
			if code := apitoken.ErrorCode(err); code != apitoken.Unavailable {
				t.Fatalf("Open = %v with code %q, want %q", err, code, apitoken.Unavailable)
			}
			if took > tt.limit {
				t.Fatalf("Open took %s to give up, want under %s", took, tt.limit)
			}
		})
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"", "mysql://root@localhost/db", "sqlite:", "sqlite://", "file:/tmp/x.db", "postgres://%zz"} {
		st, err := store.Open(context.Background(), url)
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("Open(%q) = %q, want an error prefixed store:", url, err)
		}
	}
}

func TestOpenSQLiteCreatesTheDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/a/b"
	st, err := store.Open(context.Background(), "sqlite:"+dir+"/tokend.db")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if st.Dialect() != store.SQLite {
		t.Fatalf("Dialect = %q, want %q", st.Dialect(), store.SQLite)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestAnEndedContextIsUnavailableNotInternal(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := st.Users.Get(ctx, uuid.NewString()); apitoken.ErrorCode(err) != apitoken.Unavailable {
			t.Fatalf("Get with a canceled context = %v (%q), want %q", err, apitoken.ErrorCode(err), apitoken.Unavailable)
		}
		if err := st.Ping(ctx); apitoken.ErrorCode(err) != apitoken.Unavailable {
			t.Fatalf("Ping with a canceled context = %v, want %q", err, apitoken.Unavailable)
		}
	})
}
