package dbtest_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// mustMigrate opens the database at u and returns what migrating it
// applied.
func mustMigrate(tb testing.TB, u string) []string {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return applied
}

func TestNewURLIsMigratedAndNewEmptyURLIsEmpty(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ms, err := store.Migrations(d)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, m := range ms {
				all = append(all, m.Name)
			}
			if applied := mustMigrate(t, dbtest.NewURL(t, d)); len(applied) != 0 {
				t.Errorf("migrating a NewURL database applied %q, want nothing", applied)
			}
			if applied := mustMigrate(t, dbtest.NewEmptyURL(t, d)); !slices.Equal(applied, all) {
				t.Errorf("migrating a NewEmptyURL database applied %q, want %q", applied, all)
			}
		})
	}
}

func TestEveryTestGetsADatabaseOfItsOwn(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			a, b := dbtest.MustOpen(t, d), dbtest.MustOpen(t, d)
			now := time.Now().UTC()
			u := apitoken.User{ID: "9b2f1c1e-2d4b-4a43-9b8e-2f0b7f1f0c11", Email: "a@example.com", Role: apitoken.RoleMember, CreatedAt: now, UpdatedAt: now}
			if err := a.Users.Create(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if _, total, err := a.Users.List(ctx, 10, 0); err != nil || total != 1 {
				t.Fatalf("the first database lists %d users, %v; want 1", total, err)
			}
			if _, total, err := b.Users.List(ctx, 10, 0); err != nil || total != 0 {
				t.Fatalf("the second database lists %d users, %v; want none", total, err)
			}
		})
	}
}

// requirePostgres skips a test of PostgreSQL alone when no server is
// configured, as Dialects leaves PostgreSQL out then.
func requirePostgres(t *testing.T) {
	t.Helper()
	if os.Getenv(dbtest.EnvURL) == "" {
		t.Skip(dbtest.EnvURL + " is not set")
	}
}

func TestNotificationsStayInTheirTestsDatabase(t *testing.T) {
	requirePostgres(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connect := func(u string) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	mine, other := dbtest.NewURL(t, store.Postgres), dbtest.NewURL(t, store.Postgres)
	listener, mineConn, otherConn := connect(mine), connect(mine), connect(other)
	if _, err := listener.Exec(ctx, "LISTEN tokend_changes"); err != nil {
		t.Fatal(err)
	}
	// The other test's notification goes first: were it delivered here, it
	// would arrive before this test's own.
	if _, err := otherConn.Exec(ctx, "NOTIFY tokend_changes, 'other'"); err != nil {
		t.Fatal(err)
	}
	if _, err := mineConn.Exec(ctx, "NOTIFY tokend_changes, 'mine'"); err != nil {
		t.Fatal(err)
	}
	n, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Payload != "mine" {
		t.Fatalf("the listener got %q first, want its own database's %q", n.Payload, "mine")
	}
}

func TestDatabasesAreDroppedWhenTheTestEnds(t *testing.T) {
	requirePostgres(t)
	t.Parallel()
	var names []string
	t.Run("a test that leaves a connection open", func(t *testing.T) {
		for _, u := range []string{dbtest.NewURL(t, store.Postgres), dbtest.NewEmptyURL(t, store.Postgres)} {
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, strings.TrimPrefix(parsed.Path, "/"))
			if _, err := pgx.Connect(context.Background(), u); err != nil { // never closed
				t.Fatal(err)
			}
		}
	})
	conn, err := pgx.Connect(context.Background(), os.Getenv(dbtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left []string
	err = conn.QueryRow(context.Background(),
		"SELECT coalesce(array_agg(datname), '{}') FROM pg_database WHERE datname = ANY($1)", names).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || len(left) != 0 {
		t.Fatalf("after the test of databases %q ended, %q are left", names, left)
	}
}

// TestAnUnreachableServerFailsTheTest runs this test binary again with
// EnvURL naming a port nothing listens on, and wants the test in it to fail,
// not to skip.
func TestAnUnreachableServerFailsTheTest(t *testing.T) {
	if os.Getenv("DBTEST_UNREACHABLE_CHILD") != "" {
		dbtest.NewURL(t, store.Postgres)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAnUnreachableServerFailsTheTest$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "DBTEST_UNREACHABLE_CHILD=1",
		dbtest.EnvURL+"=postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5")
	out, err := cmd.CombinedOutput()
	if _, failed := err.(*exec.ExitError); !failed {
		t.Fatalf("the test on an unreachable server ended with %v, want it to fail:\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- FAIL") || strings.Contains(string(out), "--- SKIP") ||
		!strings.Contains(string(out), "unreachable") {
		t.Fatalf("the test on an unreachable server, want a failure that says it is unreachable:\n%s", out)
	}
}

// BenchmarkMigratedDatabase compares the two ways to a migrated database of
// one's own: a copy of the template (NewURL), and an empty database
// (NewEmptyURL) migrated. Each is opened and migrated, as MustOpenURL does.
// The databases are dropped when the benchmark ends; run it with a small
// -benchtime such as 20x.
func BenchmarkMigratedDatabase(b *testing.B) {
	for _, d := range dbtest.Dialects() {
		b.Run(d+"/copy of the template", func(b *testing.B) {
			dbtest.NewURL(b, d) // the template, made once
			for b.Loop() {
				mustMigrate(b, dbtest.NewURL(b, d))
			}
		})
		b.Run(d+"/empty, then migrated", func(b *testing.B) {
			for b.Loop() {
				mustMigrate(b, dbtest.NewEmptyURL(b, d))
			}
		})
	}
}
