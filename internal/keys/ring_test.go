package keys_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
	"github.com/tokend/tokend/pkg/paserk"
	"github.com/tokend/tokend/pkg/verifier"
)

// clock is a settable clock for a ring.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// eachDialect runs fn in parallel subtests, one per dialect, each with its
// own fresh database.
func eachDialect(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, dbtest.MustOpen(t, d))
		})
	}
}

// MustLoadRing returns a loaded ring over the store or fails the test.
func MustLoadRing(tb testing.TB, st *store.Store, secret string, clk *clock) *keys.Ring {
	tb.Helper()
	ring := keys.NewRing(st.Keys, MustNewSealer(tb, secret), clk.Now)
	if err := ring.Load(context.Background()); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return ring
}

// MustList returns the store's keys or fails the test.
func MustList(tb testing.TB, ring *keys.Ring) []keys.Record {
	tb.Helper()
	recs, err := ring.List(context.Background())
	if err != nil {
		tb.Fatalf("List: %v", err)
	}
	return recs
}

// MustSign signs a token expiring at exp and returns it with its key id.
func MustSign(tb testing.TB, ring *keys.Ring, now, exp time.Time) (string, string) {
	tb.Helper()
	raw, kid, err := ring.Sign(context.Background(), verifier.Claims{
		Issuer: "tokend", Subject: uuid.NewString(), ID: uuid.NewString(),
		IssuedAt: now, NotBefore: now, Expiration: exp, Scope: "customers",
	})
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return raw, kid
}

// MustStoreToken stores the metadata of a token signed by the key, so that
// a rotation sees its expiration.
func MustStoreToken(tb testing.TB, st *store.Store, kid string, now, exp time.Time) {
	tb.Helper()
	ctx := context.Background()
	u := apitoken.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: apitoken.RoleMember, CreatedAt: now, UpdatedAt: now}
	if err := st.Users.Create(ctx, &u); err != nil {
		tb.Fatalf("create user: %v", err)
	}
	tok := apitoken.Token{ID: uuid.NewString(), UserID: u.ID, Description: "d", Scope: "customers", Expiration: exp,
		Enabled: true, KeyID: kid, Hash: []byte{1}, CreatedAt: now, UpdatedAt: now}
	if err := st.Tokens.Create(ctx, &tok); err != nil {
		tb.Fatalf("create token: %v", err)
	}
}

func parse(ring *keys.Ring, raw string, now time.Time) (*verifier.Claims, error) {
	return verifier.Parse(raw, ring, verifier.Options{Issuer: "tokend", Now: now})
}

func TestRingLoadCreatesExactlyOneActiveKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		clk := newClock()
		ring := MustLoadRing(t, st, testSecret, clk)
		recs := MustList(t, ring)
		if len(recs) != 1 {
			t.Fatalf("after Load: %d keys, want 1", len(recs))
		}
		k := recs[0]
		if k.Status != keys.Active || k.ID != paserk.PublicID(k.PublicKey) || !k.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("key = %s %s created %v; want active, id %s, created %v",
				k.ID, k.Status, k.CreatedAt, paserk.PublicID(k.PublicKey), clk.Now())
		}
		if k.RotatedAt != nil || k.RetireAt != nil || k.RetiredAt != nil {
			t.Fatalf("a new key has rotation dates: %+v", k)
		}
		priv, err := MustNewSealer(t, testSecret).Open(k.ID, k.SealedKey)
		if err != nil {
			t.Fatalf("the stored key does not open with the secret: %v", err)
		}
		if !k.PublicKey.Equal(priv.Public()) {
			t.Fatal("the stored private key does not match the stored public key")
		}

		if err := ring.Load(context.Background()); err != nil {
			t.Fatalf("second Load: %v", err)
		}
		MustLoadRing(t, st, testSecret, clk) // another process starting
		if again := MustList(t, ring); len(again) != 1 || again[0].ID != k.ID {
			t.Fatalf("after more Loads: %d keys, want the first one only", len(again))
		}
	})
}

func TestRingSignsTokensItVerifies(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		clk := newClock()
		ring := MustLoadRing(t, st, testSecret, clk)
		now := clk.Now().Add(1500 * time.Millisecond).In(time.FixedZone("X", 3600))
		want := verifier.Claims{
			Issuer: "tokend", Subject: "user", ID: "token", Scope: "customers accounts",
			IssuedAt: now, NotBefore: now, Expiration: now.Add(time.Hour + 999*time.Millisecond),
			SourceIP:  "10.0.0.0/8",
			Resources: []verifier.Resource{{Type: "account", IDs: []string{"1"}}},
		}
		raw, kid, err := ring.Sign(context.Background(), want)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		recs := MustList(t, ring)
		if kid != recs[0].ID || kid != paserk.PublicID(recs[0].PublicKey) {
			t.Fatalf("Sign's kid = %s, want the active key's PASERK id %s", kid, paserk.PublicID(recs[0].PublicKey))
		}
		if !strings.HasPrefix(raw, verifier.Prefix) {
			t.Fatalf("token %q is not v2.public", raw)
		}
		footer, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndex(raw, ".")+1:])
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]string
		if err := json.Unmarshal(footer, &f); err != nil || len(f) != 1 || f["kid"] != kid {
			t.Fatalf("footer = %s, want {\"kid\":%q}", footer, kid)
		}

		got, err := parse(ring, raw, clk.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("Parse of a ring token via the ring: %v", err)
		}
		// Times are written in whole seconds, in UTC.
		sec := func(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
		if !got.IssuedAt.Equal(sec(now)) || !got.NotBefore.Equal(sec(now)) || !got.Expiration.Equal(sec(want.Expiration)) {
			t.Fatalf("times = %v %v %v, want whole seconds %v %v", got.IssuedAt, got.NotBefore, got.Expiration, sec(now), sec(want.Expiration))
		}
		if got.Issuer != want.Issuer || got.Subject != want.Subject || got.ID != want.ID || got.Scope != want.Scope ||
			got.SourceIP != want.SourceIP || len(got.Resources) != 1 || got.Resources[0].IDs[0] != "1" {
			t.Fatalf("claims = %+v, want %+v", got, want)
		}

		pub, ok := ring.PublicKey(kid)
		if !ok || !pub.Equal(recs[0].PublicKey) {
			t.Fatal("PublicKey does not give the active key")
		}
		for _, bad := range []string{"", "k2.pid.", "k2.pid." + strings.Repeat("A", 44), "k4.pid." + kid[len("k2.pid."):]} {
			if _, ok := ring.PublicKey(bad); ok {
				t.Errorf("PublicKey(%q) found a key", bad)
			}
		}
	})
}

func TestRingRotate(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		t0 := clk.Now()
		ring := MustLoadRing(t, st, testSecret, clk)

		// Key 1 signs a token living 48 hours; a rotation asking for one
		// hour must keep key 1 until that token expires.
		tok1, kid1 := MustSign(t, ring, t0, t0.Add(48*time.Hour))
		MustStoreToken(t, st, kid1, t0, t0.Add(48*time.Hour))
		clk.Add(time.Minute)
		rec2, err := ring.Rotate(ctx, time.Hour)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if rec2.Status != keys.Active || rec2.ID == kid1 || rec2.ID != paserk.PublicID(rec2.PublicKey) {
			t.Fatalf("Rotate returned %s %s, want a new active key", rec2.ID, rec2.Status)
		}
		tok2, kid2 := MustSign(t, ring, clk.Now(), clk.Now().Add(time.Hour))
		if kid2 != rec2.ID {
			t.Fatalf("after Rotate the ring signs with %s, want the new key %s", kid2, rec2.ID)
		}

		// Key 2 signed nothing stored: its rotation keeps it minLifetime.
		clk.Add(time.Minute)
		rec3, err := ring.Rotate(ctx, 2*time.Hour)
		if err != nil {
			t.Fatalf("second Rotate: %v", err)
		}
		rotatedAt := clk.Now()

		recs := MustList(t, ring)
		if len(recs) != 3 {
			t.Fatalf("after two rotations: %d keys, want 3", len(recs))
		}
		k1, k2, k3 := recs[0], recs[1], recs[2]
		if k1.ID != kid1 || k2.ID != kid2 || k3.ID != rec3.ID {
			t.Fatalf("List order = %s %s %s, want oldest first", k1.ID, k2.ID, k3.ID)
		}
		if k1.Status != keys.Retiring || !k1.RotatedAt.Equal(t0.Add(time.Minute)) || !k1.RetireAt.Equal(t0.Add(48*time.Hour)) {
			t.Errorf("key 1: %s, rotated %v, retires %v; want retiring, rotated %v, retiring when its token expires at %v",
				k1.Status, k1.RotatedAt, k1.RetireAt, t0.Add(time.Minute), t0.Add(48*time.Hour))
		}
		// minLifetime, and the second another replica may sign with it
		// after its rotation.
		if k2.Status != keys.Retiring || !k2.RotatedAt.Equal(rotatedAt) || !k2.RetireAt.Equal(rotatedAt.Add(2*time.Hour+time.Second)) {
			t.Errorf("key 2: %s, rotated %v, retires %v; want retiring, rotated %v, retiring minLifetime and a second later",
				k2.Status, k2.RotatedAt, k2.RetireAt, rotatedAt)
		}
		if k3.Status != keys.Active || k3.RotatedAt != nil || k3.RetireAt != nil {
			t.Errorf("key 3: %+v, want active", k3)
		}

		for name, raw := range map[string]string{"key 1's": tok1, "key 2's": tok2} {
			if _, err := parse(ring, raw, clk.Now()); err != nil {
				t.Errorf("%s token after rotation: %v", name, err)
			}
		}

		// Once past its RetireAt a retiring key verifies nothing.
		clk.Add(2*time.Hour + time.Second)
		if _, err := parse(ring, tok2, clk.Now().Add(-2*time.Hour)); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Errorf("key 2's token after its RetireAt: %v, want %v", err, verifier.ErrUnknownKey)
		}
		if _, err := parse(ring, tok1, clk.Now()); err != nil {
			t.Errorf("key 1's token before its RetireAt: %v", err)
		}
	})
}

func TestRingRotateOnAnEmptyStoreCreatesTheFirstKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ring := keys.NewRing(st.Keys, MustNewSealer(t, testSecret), nil)
		rec, err := ring.Rotate(context.Background(), time.Hour)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if recs := MustList(t, ring); len(recs) != 1 || recs[0].ID != rec.ID || recs[0].Status != keys.Active {
			t.Fatalf("after Rotate on an empty store: %+v, want the one new active key", recs)
		}
	})
}

func TestRingRetire(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		ring := MustLoadRing(t, st, testSecret, clk)
		tok1, kid1 := MustSign(t, ring, clk.Now(), clk.Now().Add(time.Hour))
		clk.Add(time.Second)
		rec2, err := ring.Rotate(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		key1 := func() keys.Record {
			t.Helper()
			for _, r := range MustList(t, ring) {
				if r.ID == kid1 {
					return r
				}
			}
			t.Fatalf("key %s is gone", kid1)
			return keys.Record{}
		}

		t.Run("retiring the active key is a conflict", func(t *testing.T) {
			if err := ring.Retire(ctx, rec2.ID); apitoken.ErrorCode(err) != apitoken.Conflict {
				t.Fatalf("Retire(active) = %v, want a conflict", err)
			}
			if _, kid := MustSign(t, ring, clk.Now(), clk.Now().Add(time.Hour)); kid != rec2.ID {
				t.Fatalf("after the refused Retire the ring signs with %s, want %s", kid, rec2.ID)
			}
		})
		t.Run("retiring an unknown key is not found", func(t *testing.T) {
			if err := ring.Retire(ctx, "k2.pid."+strings.Repeat("A", 44)); apitoken.ErrorCode(err) != apitoken.NotFound {
				t.Fatalf("Retire(unknown) = %v, want not found", err)
			}
		})
		t.Run("a retired key verifies nothing", func(t *testing.T) {
			if _, err := parse(ring, tok1, clk.Now()); err != nil {
				t.Fatalf("before Retire: %v", err)
			}
			clk.Add(time.Second)
			if err := ring.Retire(ctx, kid1); err != nil {
				t.Fatalf("Retire: %v", err)
			}
			if _, ok := ring.PublicKey(kid1); ok {
				t.Fatal("PublicKey still gives the retired key")
			}
			if _, err := parse(ring, tok1, clk.Now()); !errors.Is(err, verifier.ErrUnknownKey) {
				t.Fatalf("a token of the retired key: %v, want %v", err, verifier.ErrUnknownKey)
			}
			k := key1()
			if k.Status != keys.Retired || k.RetiredAt == nil || !k.RetiredAt.Equal(clk.Now()) {
				t.Fatalf("retired key = %s retired at %v, want retired at %v", k.Status, k.RetiredAt, clk.Now())
			}
			if k.Verifies(clk.Now()) {
				t.Fatal("the retired record still verifies")
			}
		})
		t.Run("retiring a retired key again changes nothing", func(t *testing.T) {
			before := key1()
			clk.Add(time.Minute)
			if err := ring.Retire(ctx, kid1); err != nil {
				t.Fatalf("second Retire: %v", err)
			}
			after := key1()
			if before.RetiredAt == nil || after.RetiredAt == nil || !after.RetiredAt.Equal(*before.RetiredAt) || after.Status != keys.Retired {
				t.Fatalf("a second Retire changed the key from %s at %v to %s at %v", before.Status, before.RetiredAt, after.Status, after.RetiredAt)
			}
		})
	})
}

func TestRingReplicasShareKeysThroughTheStore(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := dbtest.NewURL(t, d)
			// Two replicas: two connections to one database.
			a, b := dbtest.MustOpenURL(t, url), dbtest.MustOpenURL(t, url)
			clkA, clkB := newClock(), newClock()
			ringA := MustLoadRing(t, a, testSecret, clkA)
			ringB := MustLoadRing(t, b, testSecret, clkB)
			_, kid1 := MustSign(t, ringB, clkB.Now(), clkB.Now().Add(time.Hour))
			if recs := MustList(t, ringA); len(recs) != 1 || recs[0].ID != kid1 {
				t.Fatalf("the replicas do not share the first key: %d keys", len(recs))
			}

			rec2, err := ringA.Rotate(ctx, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			tokA, _ := MustSign(t, ringA, clkA.Now(), clkA.Now().Add(time.Hour))

			// B never saw the new key: looking it up is refused, and
			// reloads the keys in the background for the lookups after.
			if _, ok := ringB.PublicKey(rec2.ID); ok {
				t.Fatal("replica B knew a key it never loaded")
			}
			pub := awaitKey(t, ringB, rec2.ID)
			if !pub.Equal(rec2.PublicKey) {
				t.Fatal("replica B found another key under the id replica A rotated in")
			}
			if _, err := parse(ringB, tokA, clkB.Now()); err != nil {
				t.Fatalf("replica B refuses replica A's new token: %v", err)
			}
			if _, kid := MustSign(t, ringB, clkB.Now(), clkB.Now().Add(time.Hour)); kid != rec2.ID {
				t.Fatalf("replica B signs with %s, want the key A rotated in, %s", kid, rec2.ID)
			}
		})
	}
}

// awaitKey waits for a background reload to bring the key into the ring.
func awaitKey(tb testing.TB, ring *keys.Ring, kid string) ed25519.PublicKey {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if pub, ok := ring.PublicKey(kid); ok {
			return pub
		}
	}
	tb.Fatalf("key %s never arrived", kid)
	return nil
}

// gatedKeys is a real key store whose ListKeys waits for the test to open
// the gate, and counts its calls.
type gatedKeys struct {
	keys.Store
	gate  chan struct{}
	calls atomic.Int32
}

func (g *gatedKeys) ListKeys(ctx context.Context) ([]keys.Record, error) {
	g.calls.Add(1)
	<-g.gate
	return g.Store.ListKeys(ctx)
}

func TestRingRefusesUnknownKeyIDsAtOnceAndReloadsOnceInTheBackground(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		clk := newClock()
		owner := MustLoadRing(t, st, testSecret, clk) // creates the first key
		gated := &gatedKeys{Store: st.Keys, gate: make(chan struct{})}
		close(gated.gate)
		ring := keys.NewRing(gated, MustNewSealer(t, testSecret), clk.Now)
		if err := ring.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		gated.gate = make(chan struct{}) // reloads wait from now on
		gated.calls.Store(0)
		rec, err := owner.Rotate(context.Background(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}

		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok := ring.PublicKey(rec.ID); ok {
					t.Error("a key the ring has not loaded yet was found")
				}
			}()
		}
		wg.Wait() // every lookup returned while the reload is held
		close(gated.gate)
		if pub := awaitKey(t, ring, rec.ID); !pub.Equal(rec.PublicKey) {
			t.Fatal("the reload found another key")
		}
		if n := gated.calls.Load(); n != 1 {
			t.Fatalf("20 lookups of one unknown key made %d reloads, want 1", n)
		}
	})
}

func TestRingWithAnotherSecretRefusesToLoad(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		clk := newClock()
		first := MustList(t, MustLoadRing(t, st, testSecret, clk))

		ring := keys.NewRing(st.Keys, MustNewSealer(t, otherSecret), clk.Now)
		if err := ring.Load(context.Background()); !errors.Is(err, keys.ErrWrongSecret) {
			t.Fatalf("Load with another secret = %v, want %v", err, keys.ErrWrongSecret)
		}
		if _, _, err := ring.Sign(context.Background(), verifier.Claims{}); !errors.Is(err, keys.ErrWrongSecret) {
			t.Fatalf("Sign with another secret = %v, want %v", err, keys.ErrWrongSecret)
		}
		if recs := MustList(t, ring); len(recs) != 1 || recs[0].ID != first[0].ID {
			t.Fatalf("the refused ring changed the keys: %d keys", len(recs))
		}
	})
}

func TestRingsRacingToCreateTheFirstKey(t *testing.T) {
	const replicas = 4
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			url := dbtest.NewURL(t, d)
			rings := make([]*keys.Ring, replicas)
			for i := range rings {
				rings[i] = keys.NewRing(dbtest.MustOpenURL(t, url).Keys, MustNewSealer(t, testSecret), nil)
			}
			start := make(chan struct{})
			errs := make([]error, replicas)
			var wg sync.WaitGroup
			for i, r := range rings {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = r.Load(context.Background())
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: Load: %v", i, err)
				}
			}
			recs := MustList(t, rings[0])
			if len(recs) != 1 || recs[0].Status != keys.Active {
				t.Fatalf("after the race: %d keys, want exactly one active key", len(recs))
			}
			for i, r := range rings {
				now := time.Now()
				if _, kid := MustSign(t, r, now, now.Add(time.Hour)); kid != recs[0].ID {
					t.Errorf("replica %d signs with %s, want the one key %s", i, kid, recs[0].ID)
				}
			}
		})
	}
}

func TestRecordStatusAt(t *testing.T) {
	now := time.Now()
	later := now.Add(time.Hour)
	tests := []struct {
		name     string
		rec      keys.Record
		want     keys.Status
		verifies bool
	}{
		{"an active key", keys.Record{Status: keys.Active}, keys.Active, true},
		{"a retiring key before its RetireAt", keys.Record{Status: keys.Retiring, RetireAt: &later}, keys.Retiring, true},
		{"a retiring key at its RetireAt", keys.Record{Status: keys.Retiring, RetireAt: &now}, keys.Retired, false},
		{"a retiring key without a RetireAt", keys.Record{Status: keys.Retiring}, keys.Retiring, true},
		{"a retired key", keys.Record{Status: keys.Retired, RetireAt: &later}, keys.Retired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+string(tt.want), func(t *testing.T) {
			if got := tt.rec.StatusAt(now); got != tt.want {
				t.Fatalf("StatusAt = %s, want %s", got, tt.want)
			}
			if got := tt.rec.Verifies(now); got != tt.verifies {
				t.Fatalf("Verifies = %v, want %v", got, tt.verifies)
			}
		})
	}
}

// staleKeys is a real key store whose ListKeys, once armed, reads the keys
// and then waits for the test before returning them: a reload that read
// before a change and finishes after it.
type staleKeys struct {
	keys.Store
	armed   atomic.Bool
	read    chan struct{} // closed when the held reload has read
	release chan struct{}
}

func (s *staleKeys) ListKeys(ctx context.Context) ([]keys.Record, error) {
	if !s.armed.CompareAndSwap(true, false) {
		return s.Store.ListKeys(ctx)
	}
	recs, err := s.Store.ListKeys(ctx)
	close(s.read)
	<-s.release
	return recs, err
}

// TestRingNeverGoesBackToOlderKeys holds a background reload that read the
// keys before a retirement until the retirement's own reload is done: the
// late reload must not bring the retired key back.
func TestRingNeverGoesBackToOlderKeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		stale := &staleKeys{Store: st.Keys, read: make(chan struct{}), release: make(chan struct{})}
		ring := keys.NewRing(stale, MustNewSealer(t, testSecret), clk.Now)
		if err := ring.Load(ctx); err != nil {
			t.Fatal(err)
		}
		_, oldKid := MustSign(t, ring, clk.Now(), clk.Now().Add(time.Hour))
		if _, err := ring.Rotate(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		stale.armed.Store(true)
		late := make(chan error, 1)
		go func() { late <- ring.Refresh(ctx) }()
		<-stale.read
		if err := ring.Retire(ctx, oldKid); err != nil {
			t.Fatal(err)
		}
		close(stale.release)
		if err := <-late; err != nil {
			t.Fatal(err)
		}
		if _, ok := ring.PublicKey(oldKid); ok {
			t.Fatal("a reload that read before the retirement brought the retired key back")
		}
	})
}
