package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// auditEvent is an auditEvent resource as tokend's API answers it.
type auditEvent struct {
	ID         string `json:"id"`
	Attributes struct {
		Action       string `json:"action"`
		OccurredAt   string `json:"occurredAt"`
		ActorUserID  string `json:"actorUserId"`
		ActorTokenID string `json:"actorTokenId"`
		TargetType   string `json:"targetType"`
		TargetID     string `json:"targetId"`
		SourceIP     string `json:"sourceIp"`
	} `json:"attributes"`
}

// auditEvents reads the first page of a list of audit events (path and
// query) with the token, as the console asks for it.
func auditEvents(t *testing.T, srv *tokendtest.Server, path, token string) []auditEvent {
	t.Helper()
	resp := get(t, srv, path, token, map[string]string{"Accept": "application/vnd.api+json"})
	defer resp.Body.Close()
	var doc struct {
		Data []auditEvent `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
	}
	return doc.Data
}

// newest is the query of the first page of events the console reads.
const newest = "page%5Blimit%5D=25&sort=-occurredAt"

// Columns of the audit events table.
const (
	auditAction = 1
	auditActor  = 2
	auditTarget = 3
	auditSource = 4
)

// sameEvents fails the test unless the table's rows are the events, in
// order: the same action, target and source address.
func (p *page) sameEvents(rows [][]string, events []auditEvent) {
	p.t.Helper()
	if len(rows) != len(events) {
		p.t.Fatalf("the table shows %d events, tokend lists %d", len(rows), len(events))
	}
	for i, e := range events {
		a := e.Attributes
		if !strings.HasPrefix(rows[i][auditAction], a.Action) || !strings.Contains(rows[i][auditTarget], a.TargetType) ||
			!strings.Contains(rows[i][auditTarget], a.TargetID) || !shows(rows[i][auditSource], a.SourceIP) {
			p.t.Errorf("row %d reads %q, tokend lists %+v", i, rows[i], a)
		}
	}
}

// shows reports whether a cell shows the value, or, for no value, says
// "None".
func shows(cell, value string) bool {
	if value == "" {
		return cell == "None"
	}
	return strings.Contains(cell, value)
}

// TestAuditAsMember creates and revokes a token in the console as a
// member, then reads the Audit page: the member's own events, as tokend
// lists them, newest first (who did it: You, with which token; the token;
// the address), and the Action filter.
func TestAuditAsMember(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, tokenID := mint(t, srv, member, "customers api-tokens api-tokens-write", time.Now().Add(24*time.Hour))

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	p.get("button", "New token").click()
	p.get("textbox", "Description").fill("Audited")
	p.get("checkbox", "customers").click()
	p.get("button", "Create").click()
	p.get("region", "Token created").get("button", "Done").click()
	p.row("Tokens", "Audited").get("button", "Revoke").click()
	p.get("dialog", "Revoke this token?").get("button", "Revoke").click()
	p.status(`Token “Audited” revoked.`)
	audited := mustToken(t, srv, member, "Audited")

	p.get("link", "Audit").click()
	p.get("heading", "Your audit events")
	if p.get("link", "Audit").attr("aria-current") != "page" {
		t.Error("the Audit link is not marked as the current page")
	}
	events := auditEvents(t, srv, "/users/"+member+"/audit-events?"+newest, token)
	p.until("the events", func() bool { return len(p.rows("Audit events")) == len(events) && len(events) > 0 })
	rows := p.rows("Audit events")
	p.sameEvents(rows, events)
	var created, revoked []string
	for _, r := range rows {
		switch {
		case strings.HasPrefix(r[auditAction], "apiToken.created") && strings.Contains(r[auditTarget], audited.ID):
			created = r
		case strings.HasPrefix(r[auditAction], "apiToken.revoked") && strings.Contains(r[auditTarget], audited.ID):
			revoked = r
		}
	}
	for name, r := range map[string][]string{"created": created, "revoked": revoked} {
		if r == nil {
			t.Errorf("no event of the token's being %s in %q", name, rows)
			continue
		}
		if !strings.HasPrefix(r[auditActor], "You") || !strings.Contains(r[auditActor], tokenID) || !strings.Contains(r[auditSource], "127.0.0.1") {
			t.Errorf("the token %s reads %q, want by You with token %s from 127.0.0.1", name, r, tokenID)
		}
	}
	p.axe("the audit page")

	p.get("combobox", "Action").choose("apiToken.revoked")
	p.until("the revocations alone", func() bool {
		rows := p.rows("Audit events")
		return len(rows) == 1 && strings.HasPrefix(rows[0][auditAction], "apiToken.revoked")
	})
	p.sameEvents(p.rows("Audit events"), auditEvents(t, srv, "/users/"+member+"/audit-events?"+newest+"&filter%5Baction%5D=apiToken.revoked", token))
	p.get("combobox", "Action").choose("key.rotated")
	p.get("table", "Audit events")
	p.until("no events", func() bool { return len(p.rows("Audit events")) == 0 })
	if text := eval[string](p, `document.querySelector('.empty').innerText`); text != "No events to show." {
		t.Errorf("an empty list says %q", text)
	}
	p.axe("the audit page, filtered to nothing")
}

// TestAuditAsAdmin reads the Audit page on every database as an admin
// whose token holds "audit" (everyone's events, as GET /audit-events lists
// them, including a refused sign-in by no one and another user's token
// revoked by the admin) and as an admin whose token does not (its own),
// and as a member whose token lacks "api-tokens" (refused, saying so).
func TestAuditAsAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		member := srv.User(apitoken.RoleMember)
		_, memberTokenID := srv.Mint(member, "customers")
		narrow, _ := srv.Mint(member, "customers")
		srv.Revoke(member, memberTokenID)
		if got := getStatus(t, srv, "/users/"+member, "v2.public.not-a-token"); got != http.StatusUnauthorized {
			t.Fatalf("a bad token gets %d", got)
		}
		auditor, _ := mint(t, srv, srv.AdminID, "audit users api-tokens api-tokens-write", time.Now().Add(24*time.Hour))
		plain, _ := mint(t, srv, srv.AdminID, "users api-tokens", time.Now().Add(24*time.Hour))

		p := open(t, srv)
		// tokend counts refusals and records them every few seconds: at
		// once here.
		srv.App.FlushRefusals(context.Background())
		refusals := "/audit-events?" + newest + "&filter%5Baction%5D=auth.refused"
		if len(auditEvents(t, srv, refusals, auditor)) == 0 {
			t.Fatal("no refused authentication recorded")
		}
		p.signIn(auditor, "Your tokens")
		p.get("link", "Audit").click()
		p.get("heading", "Audit events")
		events := auditEvents(t, srv, "/audit-events?"+newest, auditor)
		p.until("the events", func() bool { return len(p.rows("Audit events")) == len(events) && len(events) > 0 })
		rows := p.rows("Audit events")
		p.sameEvents(rows, events)
		i := slices.IndexFunc(rows, func(r []string) bool {
			return strings.HasPrefix(r[auditAction], "apiToken.revoked") && strings.Contains(r[auditTarget], memberTokenID)
		})
		if i < 0 {
			t.Errorf("no revocation of the member's token in %q", rows)
		} else if !strings.HasPrefix(rows[i][auditActor], "You") {
			t.Errorf("the member's token's revocation reads %q, want by You (the admin)", rows[i])
		}
		if !slices.ContainsFunc(rows, func(r []string) bool {
			return strings.HasPrefix(r[auditAction], "auth.refused") && r[auditActor] == "None"
		}) {
			t.Errorf("no refused sign-in by no one in %q", rows)
		}
		p.axe("everyone's audit events")

		p.get("combobox", "Action").choose("auth.refused")
		p.until("the refusals alone", func() bool {
			rows := p.rows("Audit events")
			return len(rows) > 0 && !slices.ContainsFunc(rows, func(r []string) bool { return !strings.HasPrefix(r[auditAction], "auth.refused") })
		})
		p.sameEvents(p.rows("Audit events"), auditEvents(t, srv, refusals, auditor))

		// Signed out and in again, the console shows the page it was on.
		p.get("button", "Sign out").click()
		p.signIn(plain, "Your audit events")
		own := auditEvents(t, srv, "/users/"+srv.AdminID+"/audit-events?"+newest, plain)
		p.until("the admin's own events", func() bool { return len(p.rows("Audit events")) == len(own) && len(own) > 0 })
		p.sameEvents(p.rows("Audit events"), own)

		p.get("button", "Sign out").click()
		p.signIn(narrow, "Your audit events")
		p.alert(`Not allowed: The token lacks the "api-tokens" scope.`)
		p.axe("the audit page refused")
	})
}
