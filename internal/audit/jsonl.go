package audit

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Record is an event as JSON: its id, seq and attributes as the API shows
// them (auditEvent), and its hashes in hex. Absent values are omitted.
type Record struct {
	ID           string    `json:"id"`
	Seq          int64     `json:"seq"`
	OccurredAt   time.Time `json:"occurredAt"`
	Action       Action    `json:"action"`
	ActorUserID  string    `json:"actorUserId,omitempty"`
	ActorTokenID string    `json:"actorTokenId,omitempty"`
	TargetType   string    `json:"targetType"`
	TargetID     string    `json:"targetId"`
	UserID       string    `json:"userId,omitempty"`
	SourceIP     string    `json:"sourceIp,omitempty"`
	UserAgent    string    `json:"userAgent,omitempty"`
	Changes      Changes   `json:"changes,omitempty"`
	PrevHash     string    `json:"prevHash"`
	Hash         string    `json:"hash"`
}

// RecordOf returns the event's record.
func RecordOf(e *Event) Record {
	return Record{
		ID: e.ID, Seq: e.Seq, OccurredAt: e.OccurredAt.UTC(), Action: e.Action,
		ActorUserID: e.ActorUserID, ActorTokenID: e.ActorTokenID, TargetType: e.TargetType, TargetID: e.TargetID,
		UserID: e.UserID, SourceIP: e.SourceIP, UserAgent: e.UserAgent, Changes: e.Changes,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}

// JSONLines returns a function that writes events to w, each as its
// Record on one line, whole lines only even when called from several
// goroutines at once. A write that fails is reported to fail, if set.
func JSONLines(w io.Writer, fail func(error)) func([]Event) {
	var mu sync.Mutex
	return func(events []Event) {
		var buf []byte
		for i := range events {
			b, err := json.Marshal(RecordOf(&events[i]))
			if err != nil {
				continue
			}
			buf = append(append(buf, b...), '\n')
		}
		mu.Lock()
		_, err := w.Write(buf)
		mu.Unlock()
		if err != nil && fail != nil {
			fail(err)
		}
	}
}
