package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/audit"
	"github.com/tokend/tokend/internal/dbtest"
)

func TestPruneEventsCutsTheOldEndAndTheChainStillVerifies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		now := time.Now().UTC()
		old := now.Add(-500 * 24 * time.Hour)
		for i := range 10 {
			e := event(audit.TokenCreated, i)
			e.OccurredAt = old.Add(time.Duration(i) * time.Minute)
			if err := st.AppendEvents(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		// A recent event, then an old one after it: the chain is cut at
		// the first event kept, never past it.
		recent := event(audit.TokenUpdated, 10)
		recent.OccurredAt = now
		late := event(audit.TokenUpdated, 11)
		late.OccurredAt = old
		if err := st.AppendEvents(ctx, recent, late); err != nil {
			t.Fatal(err)
		}
		// The total of the unfiltered list is read off the chain, not
		// counted: it must be what counting gives, before and after.
		total := func(f audit.Filter) int64 {
			t.Helper()
			f.Limit = 1
			page, err := st.ListEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return page.Total
		}
		updated := audit.Filter{Actions: []audit.Action{audit.TokenUpdated}}
		if all, some := total(audit.Filter{}), total(updated); all != 12 || some != 2 {
			t.Fatalf("totals before pruning: %d of all, %d updated; want 12 and 2", all, some)
		}
		n, err := st.PruneEvents(ctx, now.Add(-400*24*time.Hour), 4)
		if err != nil || n != 10 {
			t.Fatalf("PruneEvents = %d, %v; want the 10 old events", n, err)
		}
		if all, some := total(audit.Filter{}), total(updated); all != 2 || some != 2 {
			t.Fatalf("totals after pruning: %d of all, %d updated; want 2 and 2", all, some)
		}
		rows := storedEvents(t, url)
		if len(rows) != 2 || rows[0].Seq != 11 {
			t.Fatalf("kept %+v, want events 11 and 12", rows)
		}
		rep, err := st.VerifyChain(ctx)
		if err != nil {
			t.Fatalf("VerifyChain after pruning: %v", err)
		}
		if rep.StartSeq != 11 || rep.HeadSeq != 12 || rep.Events != 2 {
			t.Fatalf("VerifyChain = %+v, want events 11 to 12", rep)
		}
		if n, err := st.PruneEvents(ctx, now.Add(-400*24*time.Hour), 4); err != nil || n != 0 {
			t.Fatalf("pruning again = %d, %v; want none", n, err)
		}
		// The first event kept deleted: the start no longer matches.
		if err := rawDB(t, url).Exec("DELETE FROM audit_events WHERE seq = 11").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := st.VerifyChain(ctx); !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), "event 11 is missing") {
			t.Fatalf("VerifyChain = %v, want event 11 missing", err)
		}
	})
}

func TestPruneEventsOfTheWholeChainLeavesItVerifiable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		st := dbtest.MustOpenURL(t, url)
		ctx := context.Background()
		e := event(audit.TokenCreated, 1)
		e.OccurredAt = time.Now().Add(-time.Hour)
		if err := st.AppendEvents(ctx, e, e); err != nil {
			t.Fatal(err)
		}
		if n, err := st.PruneEvents(ctx, time.Now(), 0); err != nil || n != 2 {
			t.Fatalf("PruneEvents = %d, %v", n, err)
		}
		if rep, err := st.VerifyChain(ctx); err != nil || rep.Events != 0 || rep.StartSeq != 3 {
			t.Fatalf("VerifyChain of an empty chain = %+v, %v", rep, err)
		}
		if err := st.AppendEvents(ctx, event(audit.TokenRevoked, 2)); err != nil {
			t.Fatal(err)
		}
		if rep, err := st.VerifyChain(ctx); err != nil || rep.Events != 1 || rep.HeadSeq != 3 {
			t.Fatalf("VerifyChain = %+v, %v", rep, err)
		}
	})
}
