package audit_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/audit"
)

func sample() audit.Event {
	c := audit.Changes{}
	c.Set("description", "old", "new <b>")
	c.Set("expiration", nil, time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC))
	return audit.Event{
		ID: "0190f3c2-0000-7000-8000-000000000001", OccurredAt: time.Date(2026, 12, 7, 1, 2, 3, 456e6, time.UTC),
		Action: audit.TokenUpdated, ActorUserID: "u1", ActorTokenID: "t1", TargetType: audit.TargetToken,
		TargetID: "t2", UserID: "u2", SourceIP: "192.0.2.1", UserAgent: "curl/8", Changes: c,
	}
}

func TestSumCoversEveryField(t *testing.T) {
	base := sample()
	if _, err := base.Seal(7, audit.Genesis); err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(e *audit.Event){
		"seq":          func(e *audit.Event) { e.Seq++ },
		"id":           func(e *audit.Event) { e.ID += "x" },
		"occurredAt":   func(e *audit.Event) { e.OccurredAt = e.OccurredAt.Add(time.Millisecond) },
		"action":       func(e *audit.Event) { e.Action = audit.TokenRevoked },
		"actorUserId":  func(e *audit.Event) { e.ActorUserID = "" },
		"actorTokenId": func(e *audit.Event) { e.ActorTokenID = "t9" },
		"targetType":   func(e *audit.Event) { e.TargetType = audit.TargetUser },
		"targetId":     func(e *audit.Event) { e.TargetID = "t3" },
		"userId":       func(e *audit.Event) { e.UserID = "u3" },
		"sourceIp":     func(e *audit.Event) { e.SourceIP = "192.0.2.2" },
		"userAgent":    func(e *audit.Event) { e.UserAgent = "" },
		"changes":      func(e *audit.Event) { e.Changes = audit.Changes{} },
		// Moving a byte from one field to the next must not give the
		// same encoding.
		"field boundaries": func(e *audit.Event) { e.ActorUserID, e.ActorTokenID = "u1t", "1" },
	}
	for name, edit := range edits {
		t.Run("a changed "+name+" changes the hash", func(t *testing.T) {
			e := sample()
			e.Seq = 7
			edit(&e)
			h, err := e.Sum(audit.Genesis)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(h, base.Hash) {
				t.Fatalf("hash unchanged")
			}
			e.PrevHash, e.Hash = base.PrevHash, base.Hash
			if err := e.Check(audit.Genesis); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("Check = %v, want ErrBroken", err)
			}
		})
	}
	t.Run("another predecessor changes the hash", func(t *testing.T) {
		e := sample()
		e.Seq = 7
		h, _ := e.Sum(bytes.Repeat([]byte{1}, audit.HashSize))
		if bytes.Equal(h, base.Hash) {
			t.Fatal("hash unchanged")
		}
		if err := base.Check(h); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("Check with another predecessor = %v, want ErrBroken", err)
		}
	})
	t.Run("the event as sealed checks", func(t *testing.T) {
		if err := base.Check(audit.Genesis); err != nil {
			t.Fatal(err)
		}
	})
}

func TestChangesRoundTripToTheSameBytes(t *testing.T) {
	e := sample()
	b, err := e.Changes.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"description":{"old":"old","new":"new \u003cb\u003e"},"expiration":{"old":null,"new":"2027-01-02T03:04:05Z"}}`
	if string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}
	c, err := audit.DecodeChanges(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.Encode()
	if !bytes.Equal(again, b) {
		t.Fatalf("decoded and encoded again = %s, want %s", again, b)
	}
	if none, _ := (audit.Changes{}).Encode(); none != nil {
		t.Fatalf("no changes encode as %q, want nothing", none)
	}
}

func TestCompareRecordsOnlyDifferences(t *testing.T) {
	c := audit.Changes{}
	if c.Compare("enabled", true, true) {
		t.Fatal("equal values recorded")
	}
	if !c.Compare("enabled", true, false) || string(c["enabled"].New) != "false" {
		t.Fatalf("changes = %v", c)
	}
}

func TestActorTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if a := audit.ActorFrom(ctx); a != (audit.Actor{}) {
		t.Fatalf("ActorFrom(empty) = %+v", a)
	}
	a := audit.Actor{UserID: "u", TokenID: "t", SourceIP: "198.51.100.7", UserAgent: "ua"}
	e := audit.From(audit.WithActor(ctx, a), audit.UserCreated, audit.TargetUser, "u2", "u2")
	if e.ActorUserID != "u" || e.ActorTokenID != "t" || e.SourceIP != a.SourceIP || e.UserAgent != "ua" || e.TargetID != "u2" {
		t.Fatalf("From = %+v", e)
	}
}
