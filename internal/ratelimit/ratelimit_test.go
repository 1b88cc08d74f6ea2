package ratelimit_test

import (
	"testing"
	"time"

	"github.com/tokend/tokend/internal/ratelimit"
)

func TestParseRule(t *testing.T) {
	for in, want := range map[string]ratelimit.Rule{
		"100/1m": {100, time.Minute}, "10/1s": {10, time.Second}, "off": {}, "0": {},
	} {
		got, err := ratelimit.ParseRule(in)
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "100", "100/", "/1m", "-1/1m", "0/1m", "10/0s", "10/-1s", "ten/1m", "10/1x"} {
		if _, err := ratelimit.ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) succeeded", bad)
		}
	}
}

func TestTakeAllowsABurstThenTheRate(t *testing.T) {
	l := ratelimit.New[string](ratelimit.Rule{Events: 3, Per: time.Minute})
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Take("a", now); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Take("a", now)
	if ok || retry != 20*time.Second {
		t.Fatalf("the fourth event: ok %v, retry after %s; want refused, 20s", ok, retry)
	}
	if ok, _ := l.Take("b", now); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	// A refusal takes nothing: 20 s later one event is allowed, not zero.
	if ok, _ := l.Take("a", now.Add(20*time.Second)); !ok {
		t.Fatal("an event 20 s later refused: the refusal was charged")
	}
	if ok, _ := l.Take("a", now.Add(20*time.Second)); ok {
		t.Fatal("a second event 20 s later allowed")
	}
}

func TestCheckTakesNothing(t *testing.T) {
	l := ratelimit.New[string](ratelimit.Rule{Events: 2, Per: time.Second})
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 10 {
		if ok, _ := l.Check("a", now); !ok {
			t.Fatal("Check refused a key that never took anything")
		}
	}
	l.Take("a", now)
	l.Take("a", now)
	ok, retry := l.Check("a", now)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("Check of an empty bucket: %v, %s; want refused, 500ms", ok, retry)
	}
	if ok, _ := l.Check("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("Check refused once an event was due again")
	}
}

func TestTheZeroRuleAllowsEverything(t *testing.T) {
	l := ratelimit.New[string](ratelimit.Rule{})
	for range 1000 {
		if ok, _ := l.Take("a", time.Now()); !ok {
			t.Fatal("refused")
		}
	}
	if got := ratelimit.RetryAfterSeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("RetryAfterSeconds(1.5s) = %d, want 2", got)
	}
	if got := ratelimit.RetryAfterSeconds(time.Millisecond); got != 1 {
		t.Errorf("RetryAfterSeconds(1ms) = %d, want 1", got)
	}
}
