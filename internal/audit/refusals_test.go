package audit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/audit"
)

func TestRefusalsAggregatePerAddressAndReason(t *testing.T) {
	r := audit.NewRefusals(0)
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { r.Add("192.0.2.1", "expired", "ua", t0.Add(time.Duration(i)*time.Millisecond)) })
	}
	wg.Wait()
	r.Add("192.0.2.2", "expired", "", t0.Add(-time.Second))
	r.Add("192.0.2.1", "malformed", "", t0.Add(time.Second))
	evs := r.Flush()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	first := evs[1]
	if first.SourceIP != "192.0.2.1" || first.TargetID != "expired" || first.Action != audit.AuthRefused {
		t.Fatalf("second event %+v, want 192.0.2.1's expired tokens", first)
	}
	if got := string(first.Changes["count"].New); got != "100" {
		t.Fatalf("count %s, want 100", got)
	}
	if got := string(first.Changes["firstAt"].New); got != `"2026-12-07T01:00:00Z"` {
		t.Fatalf("firstAt %s", got)
	}
	if got := string(first.Changes["lastAt"].New); got != `"2026-12-07T01:00:00.099Z"` {
		t.Fatalf("lastAt %s", got)
	}
	if evs[0].SourceIP != "192.0.2.2" {
		t.Fatalf("events not in the order of their first refusal: %+v", evs)
	}
	if again := r.Flush(); len(again) != 0 {
		t.Fatalf("a second flush returned %d events, want none", len(again))
	}
}

func TestRefusalsPastTheBoundAreCountedTogether(t *testing.T) {
	r := audit.NewRefusals(5)
	at := time.Now()
	for i := range 50 {
		r.Add(fmt.Sprintf("198.51.100.%d", i), "unknown", "", at)
	}
	evs := r.Flush()
	if len(evs) != 6 {
		t.Fatalf("%d events, want 5 addresses and one overflow", len(evs))
	}
	var total, overflow int
	for _, e := range evs {
		var n int
		fmt.Sscan(string(e.Changes["count"].New), &n)
		total += n
		if e.SourceIP == audit.OverflowAddress {
			overflow = n
		}
	}
	if total != 50 || overflow != 45 {
		t.Fatalf("counted %d refusals, %d past the bound; want 50 and 45", total, overflow)
	}
}
