package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/tokendtest"
	"github.com/tokend/tokend/pkg/client"
)

func TestClientReadsTheAuditLog(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	ctx := context.Background()
	admin := client.New(srv.URL, srv.AdminToken)
	member, err := admin.CreateUser(ctx, client.UserRequest{Email: "audited@example.com", Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		tok, err := admin.CreateToken(ctx, member.ID, client.TokenRequest{Description: "t" + string(rune('0'+i)),
			Scope: "customers", Expiration: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.ID)
	}
	evs, total, err := admin.ListAuditEvents(ctx, member.ID, client.AuditFilter{Actions: []string{"apiToken.created"}})
	if err != nil || total != 3 || len(evs) != 3 || evs[0].TargetID != ids[0] || evs[0].ActorUserID != srv.AdminID {
		t.Fatalf("ListAuditEvents = %+v, %d, %v", evs, total, err)
	}
	if d := evs[0].Changes["description"]; string(d.New) != `"t0"` || string(d.Old) != "null" {
		t.Fatalf("changes = %+v", evs[0].Changes)
	}
	var seen []string
	for e, err := range admin.EachAuditEvent(ctx, "", client.AuditFilter{Page: client.Page{Limit: 2}, Newest: true}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, e.Action)
	}
	// Newest first: the three creations, the member's, then the
	// bootstrap's user and key.
	if got := strings.Join(seen[:4], " "); got != "apiToken.created apiToken.created apiToken.created user.created" {
		t.Fatalf("the whole log, newest first: %v", seen)
	}
}
