package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
)

// storedEvent is a row of audit_events as the database holds it.
type storedEvent struct {
	Seq      int64
	ID       string
	Action   string
	TargetID string
	PrevHash []byte
	Hash     []byte
}

// storedEvents reads audit_events directly, in seq order.
func storedEvents(tb testing.TB, url string) []storedEvent {
	tb.Helper()
	var rows []storedEvent
	err := rawDB(tb, url).Raw("SELECT seq, id, action, target_id, prev_hash, hash FROM audit_events ORDER BY seq").Scan(&rows).Error
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// event returns an event of the action on a target named after n.
func event(action audit.Action, n int) audit.Event {
	return audit.Event{Action: action, TargetType: audit.TargetToken, TargetID: fmt.Sprintf("target-%d", n), UserID: "u"}
}

func TestAppendEventsChainsEveryEventInCommitOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					// Some transactions append two events.
					evs := []audit.Event{event(audit.TokenCreated, w*100+i)}
					if i%3 == 0 {
						evs = append(evs, event(audit.TokenUpdated, w*100+i))
					}
					errs <- st.AppendEvents(ctx, evs...)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		rows := storedEvents(t, url)
		want := writers * (each + 4) // i = 0, 3, 6, 9 append two
		if len(rows) != want {
			t.Fatalf("%d events stored, want %d", len(rows), want)
		}
		prev := audit.Genesis
		ids := map[string]bool{}
		for i, r := range rows {
			if r.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: seq must run 1, 2, 3, …", i, r.Seq)
			}
			if !bytes.Equal(r.PrevHash, prev) {
				t.Fatalf("event %d does not follow the one before it", r.Seq)
			}
			if len(r.Hash) != audit.HashSize || ids[r.ID] {
				t.Fatalf("event %d: hash %x, id %s (seen: %v)", r.Seq, r.Hash, r.ID, ids[r.ID])
			}
			prev, ids[r.ID] = r.Hash, true
		}
		rep, err := st.VerifyChain(ctx)
		if err != nil {
			t.Fatalf("VerifyChain: %v", err)
		}
		if rep.Events != int64(want) || rep.HeadSeq != int64(want) || rep.StartSeq != 1 {
			t.Fatalf("VerifyChain = %+v, want %d events from 1", rep, want)
		}
	})
}

func TestAnEventCommitsWithItsChangeOrNotAtAll(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		var published [][]audit.Event
		var mu sync.Mutex
		st.OnAudit(func(evs []audit.Event) {
			mu.Lock()
			defer mu.Unlock()
			published = append(published, evs)
		})
		failed := errors.New("the change failed")
		err := st.InTx(ctx, func(ctx context.Context) error {
			if err := st.AppendEvents(ctx, event(audit.UserCreated, 1)); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatalf("InTx = %v", err)
		}
		if rows := storedEvents(t, url); len(rows) != 0 {
			t.Fatalf("a rolled back transaction left %d events", len(rows))
		}
		err = st.InTx(ctx, func(ctx context.Context) error {
			if err := st.AppendEvents(ctx, event(audit.UserCreated, 2)); err != nil {
				return err
			}
			return st.AppendEvents(ctx, event(audit.UserUpdated, 2))
		})
		if err != nil {
			t.Fatal(err)
		}
		rows := storedEvents(t, url)
		if len(rows) != 2 || rows[0].Seq != 1 || rows[1].Action != string(audit.UserUpdated) {
			t.Fatalf("stored %+v, want the two events of the committed transaction, from seq 1", rows)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(published) != 1 || len(published[0]) != 2 || published[0][1].Seq != 2 || !bytes.Equal(published[0][1].Hash, rows[1].Hash) {
			t.Fatalf("published %+v, want the committed transaction's two events, once", published)
		}
		if _, err := st.VerifyChain(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAppendEventsRefusesAnEventWithoutTarget(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		if err := st.AppendEvents(context.Background(), audit.Event{Action: audit.UserCreated}); err == nil {
			t.Fatal("an event without a target was appended")
		}
	})
}

func TestVerifyChainNamesTheFirstEventTamperedWith(t *testing.T) {
	tampers := []struct {
		name string
		sql  []string
		want string
	}{
		{"a row edited", []string{"UPDATE audit_events SET target_id = 'someone-else' WHERE seq = 3"},
			"event 3 "},
		{"a row's changes edited", []string{`UPDATE audit_events SET changes = '{"a":{"old":1,"new":2}}' WHERE seq = 4`},
			"event 4 "},
		{"a row deleted", []string{"DELETE FROM audit_events WHERE seq = 3"},
			"event 3 is missing"},
		{"the last row deleted", []string{"DELETE FROM audit_events WHERE seq = 5"},
			"events 5 to 5 are missing"},
		{"two rows swapped", []string{
			"UPDATE audit_events SET seq = 100 WHERE seq = 2",
			"UPDATE audit_events SET seq = 2 WHERE seq = 3",
			"UPDATE audit_events SET seq = 3 WHERE seq = 100"},
			"event 2 "},
		{"a row deleted and the chain renumbered", []string{
			"DELETE FROM audit_events WHERE seq = 2",
			"UPDATE audit_events SET seq = seq - 1 WHERE seq > 2",
			"UPDATE audit_chain SET head_seq = 4"},
			"event 2 "},
	}
	for _, tt := range tampers {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, url string) {
				st := dbtest.MustOpenURL(t, url)
				ctx := context.Background()
				for i := range 5 {
					if err := st.AppendEvents(ctx, event(audit.TokenCreated, i)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := st.VerifyChain(ctx); err != nil {
					t.Fatalf("before tampering: %v", err)
				}
				db := rawDB(t, url)
				for _, q := range tt.sql {
					if err := db.Exec(q).Error; err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				_, err := st.VerifyChain(ctx)
				if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("VerifyChain = %v, want ErrBroken naming %q", err, tt.want)
				}
			})
		})
	}
}
