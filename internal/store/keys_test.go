package store_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/keys"
	"github.com/tokend/tokend/internal/store"
)

// MustListKeys returns the stored keys or fails the test.
func MustListKeys(tb testing.TB, st *store.Store) []keys.Record {
	tb.Helper()
	recs, err := st.Keys.ListKeys(context.Background())
	if err != nil {
		tb.Fatalf("ListKeys: %v", err)
	}
	return recs
}

func TestKeysInsertActiveKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()

		if _, err := st.Keys.ActiveKey(ctx); apitoken.ErrorCode(err) != apitoken.NotFound {
			t.Fatalf("ActiveKey on an empty store = %v, want not found", err)
		}
		first := MustCreateKey(t, st, base)
		got, err := st.Keys.ActiveKey(ctx)
		if err != nil {
			t.Fatalf("ActiveKey: %v", err)
		}
		want := first
		want.CreatedAt = ms(first.CreatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ActiveKey =\n%#v\nwant\n%#v", got, want)
		}

		second := newKey(t, base.Add(time.Second))
		err = st.Keys.InsertActiveKey(ctx, second)
		if apitoken.ErrorCode(err) != apitoken.Conflict || !strings.Contains(err.Error(), "another signing key is active") {
			t.Fatalf("a second active key = %v, want a conflict", err)
		}
		if recs := MustListKeys(t, st); len(recs) != 1 || recs[0].ID != first.ID {
			t.Fatalf("after the refused insert: %d keys", len(recs))
		}
	})
}

func TestKeysInsertActiveKeyRacing(t *testing.T) {
	const replicas = 4
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewURL(t, dialect)
		stores := make([]*store.Store, replicas)
		for i := range stores {
			stores[i] = dbtest.MustOpenURL(t, url)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, replicas)
		for i, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := newKey(t, base)
				<-start
				errs[i] = st.Keys.InsertActiveKey(context.Background(), k)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch apitoken.ErrorCode(err) {
			case "":
				won++
			case apitoken.Conflict:
			default:
				t.Errorf("replica %d: %v, want success or a conflict", i, err)
			}
		}
		if recs := MustListKeys(t, stores[0]); won != 1 || len(recs) != 1 {
			t.Fatalf("%d inserts succeeded, %d keys stored; want exactly 1", won, len(recs))
		}
	})
}

func TestKeysRotateKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()

		t.Run("the old key retires when its last token expires, if after retireAt", func(t *testing.T) {
			f := newFixture(t, dialect)
			for _, exp := range []time.Duration{10 * time.Hour, 20 * time.Hour, 5 * time.Hour} {
				tok := f.token(base)
				tok.Expiration = base.Add(exp)
				MustCreateToken(t, f.st, tok)
			}
			next := newKey(t, base.Add(time.Minute))
			if err := f.st.Keys.RotateKey(ctx, next, base.Add(time.Minute), base.Add(time.Hour)); err != nil {
				t.Fatalf("RotateKey: %v", err)
			}
			recs := MustListKeys(t, f.st)
			if len(recs) != 2 || recs[0].ID != f.key.ID || recs[1].ID != next.ID {
				t.Fatalf("ListKeys = %d keys, want the old then the new", len(recs))
			}
			old, cur := recs[0], recs[1]
			if old.Status != keys.Retiring || !old.RotatedAt.Equal(ms(base.Add(time.Minute))) || !old.RetireAt.Equal(ms(base.Add(20*time.Hour))) {
				t.Fatalf("old key: %s, rotated %v, retires %v; want retiring until its last token expires at %v",
					old.Status, old.RotatedAt, old.RetireAt, ms(base.Add(20*time.Hour)))
			}
			if cur.Status != keys.Active || cur.RotatedAt != nil || cur.RetireAt != nil {
				t.Fatalf("new key: %+v, want active", cur)
			}
		})
		t.Run("the old key retires at retireAt when its tokens expire earlier", func(t *testing.T) {
			f := newFixture(t, dialect)
			tok := f.token(base)
			tok.Expiration = base.Add(time.Hour)
			MustCreateToken(t, f.st, tok)
			if err := f.st.Keys.RotateKey(ctx, newKey(t, base.Add(time.Minute)), base.Add(time.Minute), base.Add(366*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if old := MustListKeys(t, f.st)[0]; !old.RetireAt.Equal(ms(base.Add(366 * 24 * time.Hour))) {
				t.Fatalf("old key retires at %v, want retireAt %v", old.RetireAt, ms(base.Add(366*24*time.Hour)))
			}
		})
		t.Run("only tokens of the rotated key hold it back", func(t *testing.T) {
			f := newFixture(t, dialect)
			first := f.key
			if err := f.st.Keys.RotateKey(ctx, newKey(t, base.Add(time.Minute)), base.Add(time.Minute), base.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			// A token of the first, now retiring, key that expires late.
			late := newToken(f.user.ID, first.ID, base)
			late.Expiration = base.Add(100 * time.Hour)
			MustCreateToken(t, f.st, late)
			if err := f.st.Keys.RotateKey(ctx, newKey(t, base.Add(2*time.Minute)), base.Add(2*time.Minute), base.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if second := MustListKeys(t, f.st)[1]; !second.RetireAt.Equal(ms(base.Add(2 * time.Hour))) {
				t.Fatalf("second key retires at %v, want %v: another key's token held it back", second.RetireAt, ms(base.Add(2*time.Hour)))
			}
		})
		t.Run("without an active key nothing happens", func(t *testing.T) {
			st := MustOpenDB(t, dialect)
			err := st.Keys.RotateKey(ctx, newKey(t, base), base, base.Add(time.Hour))
			if apitoken.ErrorCode(err) != apitoken.NotFound {
				t.Fatalf("RotateKey on an empty store = %v, want not found", err)
			}
			if recs := MustListKeys(t, st); len(recs) != 0 {
				t.Fatalf("the failed rotation stored %d keys", len(recs))
			}
		})
		t.Run("a rotation that fails to store the new key leaves the old one active", func(t *testing.T) {
			f := newFixture(t, dialect)
			clash := newKey(t, base.Add(time.Minute))
			clash.ID = f.key.ID // the insert of the new key fails
			if err := f.st.Keys.RotateKey(ctx, clash, base.Add(time.Minute), base.Add(time.Hour)); err == nil {
				t.Fatal("RotateKey with a clashing id succeeded")
			}
			recs := MustListKeys(t, f.st)
			if len(recs) != 1 || recs[0].Status != keys.Active || recs[0].RotatedAt != nil || recs[0].RetireAt != nil {
				t.Fatalf("after the failed rotation: %+v, want the old key untouched and active", recs)
			}
		})
	})
}

func TestKeysRetireKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := MustOpenDB(t, dialect)
		old := MustCreateKey(t, st, base)
		next := newKey(t, base.Add(time.Second))
		if err := st.Keys.RotateKey(ctx, next, base.Add(time.Second), base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		if err := st.Keys.RetireKey(ctx, next.ID, base); apitoken.ErrorCode(err) != apitoken.Conflict {
			t.Fatalf("RetireKey(active) = %v, want a conflict", err)
		}
		if err := st.Keys.RetireKey(ctx, "k2.pid.unknown", base); apitoken.ErrorCode(err) != apitoken.NotFound ||
			!strings.Contains(err.Error(), "signing key not found") {
			t.Fatalf("RetireKey(unknown) = %v, want not found", err)
		}

		retiredAt := base.Add(time.Minute)
		if err := st.Keys.RetireKey(ctx, old.ID, retiredAt); err != nil {
			t.Fatalf("RetireKey(retiring): %v", err)
		}
		if err := st.Keys.RetireKey(ctx, old.ID, retiredAt.Add(time.Hour)); err != nil {
			t.Fatalf("RetireKey(retired) again: %v", err)
		}
		recs := MustListKeys(t, st)
		if recs[0].Status != keys.Retired || recs[0].RetiredAt == nil || !recs[0].RetiredAt.Equal(ms(retiredAt)) {
			t.Fatalf("retired key: %s at %v, want retired at the first RetireKey, %v", recs[0].Status, recs[0].RetiredAt, ms(retiredAt))
		}
		if recs[1].Status != keys.Active {
			t.Fatalf("the active key is %s after retiring the old one", recs[1].Status)
		}
	})
}
