package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestTokensAsMember goes through a member's tokens page: the New token
// form offers what the signed-in token may grant (its own scopes among the
// member's, for no longer than it lives), maps the API's errors onto its
// fields, creates a token shown once with Copy and Done, caps and takes
// expirations as days or as a date; Revoke asks in a dialog that Escape
// closes; revoked tokens show only when the status filter asks.
func TestTokensAsMember(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	signedInExp := time.Now().Add(10*24*time.Hour + 12*time.Hour).Truncate(time.Second)
	token, _ := mint(t, srv, member, "accounts customers api-tokens api-tokens-write", signedInExp)

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	p.row("Tokens", "console test")
	if rows := p.rows("Tokens"); len(rows) != 1 || rows[0][0] != "console test" || !strings.Contains(rows[0][2], "active") {
		t.Fatalf("the tokens table shows %v, want the signed-in token", rows)
	}

	p.get("button", "New token").click()
	form := p.get("form", "New token")
	if !p.get("textbox", "Description").focused() {
		t.Error("the Description field does not have the focus when the form opens")
	}
	var offered []string
	for _, c := range p.query(form.id, "checkbox", "") {
		offered = append(offered, c.name)
	}
	// The member may hold the catalog but admin-only and opt-in scopes; the
	// signed-in token holds four of them: those are offered, in the
	// member's order.
	want := apitoken.Intersect(srv.Service.Catalog().Default(apitoken.RoleMember),
		[]string{"accounts", "customers", "api-tokens", "api-tokens-write"})
	if strings.Join(offered, " ") != strings.Join(want, " ") {
		t.Errorf("scopes offered: %v, want %v", offered, want)
	}
	days, date := p.get("spinbutton", "Expires in (days)"), p.get("Date", "Expires on")
	if days.value() != "10" || days.attr("max") != "10" {
		t.Errorf("Expires in (days) = %q (max %q), want 10: capped at the signed-in token's expiration", days.value(), days.attr("max"))
	}
	if want := time.Now().UTC().Add(10 * 24 * time.Hour).Format(time.DateOnly); date.value() != want {
		t.Errorf("Expires on = %q, want %s", date.value(), want)
	}
	p.axe("the New token form")

	t.Run("the API's errors are shown on the fields they are about", func(t *testing.T) {
		p := p.on(t)
		p.get("button", "Create").click()
		p.alert("The token was not created")
		for _, field := range []*el{p.get("textbox", "Description"), p.get("checkbox", "customers")} {
			if field.attr("aria-invalid") != "true" {
				t.Errorf("%v is not marked invalid", field)
			}
		}
		if d := p.get("textbox", "Description").description(); !strings.Contains(d, "description") {
			t.Errorf("the Description field is described as %q, without the API's error", d)
		}
		if !p.get("textbox", "Description").focused() {
			t.Error("the first field at fault does not have the focus")
		}
		p.axe("the New token form with errors")

		p.get("textbox", "Description").fill("CI deploys")
		p.get("checkbox", "customers").click()
		p.get("checkbox", "api-tokens").click()
		p.get("textbox", "Source IPs").fill("not-an-address")
		p.get("button", "Create").click()
		p.until("the Source IPs error", func() bool {
			return p.get("textbox", "Source IPs").attr("aria-invalid") == "true"
		})
		if d := p.get("textbox", "Source IPs").description(); !strings.Contains(d, "sourceIp") {
			t.Errorf("the Source IPs field is described as %q, without the API's error", d)
		}
		if p.get("textbox", "Description").attr("aria-invalid") != "" {
			t.Error("the corrected Description is still marked invalid")
		}
		if n := len(mustTokens(t, srv, member)); n != 1 {
			t.Errorf("the member has %d tokens after refused creations, want 1", n)
		}
	})

	var shown string
	t.Run("Create shows the token once, with Copy and Done", func(t *testing.T) {
		p := p.on(t)
		p.get("textbox", "Source IPs").fill("127.0.0.1,10.0.0.0/8")
		p.get("spinbutton", "Expires in (days)").fill("5")
		before := time.Now()
		p.get("button", "Create").click()
		panel := p.get("region", "Token created")
		output := panel.get("textbox", "Token")
		after := time.Now()
		shown = output.value()
		if readOnly := on[bool](output, `function() { return this.readOnly; }`); !strings.HasPrefix(shown, "v2.public.") || !readOnly {
			t.Fatalf("the created token is shown as %q (read-only: %v)", shown, readOnly)
		}
		if !output.focused() {
			t.Error("the created token's field does not have the focus")
		}
		p.gone("form", "New token")
		p.status(`Token “CI deploys” created.`)
		p.axe("the created token")

		panel.get("button", "Copy").click()
		p.status("Copied to the clipboard.")
		if got := eval[string](p, `navigator.clipboard.readText()`); got != shown {
			t.Errorf("the clipboard holds %q, want the token", got)
		}

		created := mustToken(t, srv, member, "CI deploys")
		if created.Scope != "customers api-tokens" || created.SourceIP != "127.0.0.1,10.0.0.0/8" {
			t.Errorf("created scope %q, sourceIp %q", created.Scope, created.SourceIP)
		}
		if lo, hi := before.Add(5*24*time.Hour).Add(-time.Second), after.Add(5*24*time.Hour); created.Expiration.Before(lo) || created.Expiration.After(hi) {
			t.Errorf("created expiring %v, want 5 days ahead", created.Expiration)
		}
		if got := getStatus(t, srv, "/users/"+member, shown); got != 200 {
			t.Errorf("the token shown gets %d from tokend", got)
		}
		if cells := p.row("Tokens", "CI deploys"); !strings.Contains(cells.text(), "active") {
			t.Errorf("the new row reads %q", cells.text())
		}

		p.done(panel, "Token created", shown)
		p.gone("textbox", "Token")
	})

	t.Run("an expiration past the signed-in token's is cut to it", func(t *testing.T) {
		p := p.on(t)
		p.get("button", "New token").click()
		p.get("textbox", "Description").fill("Long")
		p.get("checkbox", "customers").click()
		p.get("spinbutton", "Expires in (days)").fill("100")
		p.get("button", "Create").click()
		p.get("region", "Token created").get("button", "Done").click()
		if got := mustToken(t, srv, member, "Long").Expiration; !got.Equal(signedInExp) {
			t.Errorf("expiration %v, want the signed-in token's %v", got, signedInExp)
		}
	})

	t.Run("an expiration given as a date lasts to the end of that day", func(t *testing.T) {
		p := p.on(t)
		day := time.Now().UTC().Add(3 * 24 * time.Hour).Format(time.DateOnly)
		p.get("button", "New token").click()
		p.get("textbox", "Description").fill("By date")
		p.get("checkbox", "accounts").click()
		p.get("Date", "Expires on").choose(day)
		if got := p.get("spinbutton", "Expires in (days)").value(); got != "3" && got != "4" {
			t.Errorf("Expires in (days) follows the date as %q", got)
		}
		p.get("button", "Create").click()
		p.get("region", "Token created").get("button", "Done").click()
		if got, want := mustToken(t, srv, member, "By date").Expiration.UTC().Format(time.DateTime), day+" 23:59:59"; got != want {
			t.Errorf("expiration %s, want %s (UTC, the browser's zone here)", got, want)
		}
	})

	t.Run("Revoke asks first, in a dialog that Escape closes", func(t *testing.T) {
		p := p.on(t)
		revoke := p.row("Tokens", "CI deploys").get("button", "Revoke")
		revoke.click()
		dialog := p.get("dialog", "Revoke this token?")
		if !eval[bool](p, `document.activeElement.closest('dialog') !== null`) {
			t.Error("the focus is not in the dialog")
		}
		p.axe("the Revoke dialog")
		p.key(kb.Escape)
		p.gone("dialog", "Revoke this token?")
		if !revoke.focused() {
			t.Error("the focus did not return to Revoke after Escape")
		}
		if tok := mustToken(t, srv, member, "CI deploys"); tok.RevokedAt != nil {
			t.Fatal("Escape revoked the token")
		}

		revoke.click()
		dialog = p.get("dialog", "Revoke this token?")
		dialog.get("button", "Revoke").click()
		p.gone("dialog", "Revoke this token?")
		p.status(`Token “CI deploys” revoked.`)
		p.noRow("Tokens", "CI deploys")
		if tok := mustToken(t, srv, member, "CI deploys"); tok.RevokedAt == nil {
			t.Fatal("the token was not revoked")
		}
		if got := getStatus(t, srv, "/users/"+member, shown); got != 401 {
			t.Errorf("the revoked token gets %d from tokend, want 401", got)
		}

		p.get("combobox", "Status").choose("revoked")
		row := p.row("Tokens", "CI deploys")
		if !strings.Contains(row.text(), "revoked") || len(p.query(row.id, "button", "Revoke")) != 0 {
			t.Errorf("the revoked row reads %q, with or without a Revoke button", row.text())
		}
		if rows := p.rows("Tokens"); len(rows) != 1 {
			t.Errorf("the revoked filter shows %d rows, want 1", len(rows))
		}
		p.axe("the tokens table filtered by status")
	})
}

// TestTokensArePaged lists 31 tokens, 25 a page, newest first: Next page
// follows the list's links.next to the rest, Previous page comes back.
func TestTokensArePaged(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, _ := mint(t, srv, member, "api-tokens", time.Now().Add(time.Hour))
	for i := 1; i <= 30; i++ {
		mintDescribed(t, srv, member, fmt.Sprintf("token %02d", i), "customers", time.Now().Add(time.Hour))
	}

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	p.row("Tokens", "token 30")
	first := p.rows("Tokens")
	if len(first) != 25 || first[0][0] != "token 30" || first[24][0] != "token 06" {
		t.Fatalf("the first page lists %d tokens, from %q to %q", len(first), first[0][0], first[len(first)-1][0])
	}
	pages := p.get("navigation", "Tokens, pages")
	if text := pages.text(); !strings.Contains(text, "1–25 of 31") {
		t.Errorf("the pager says %q", text)
	}
	p.axe("a page of many tokens")

	pages.get("button", "Next page").click()
	p.row("Tokens", "console test")
	if rest := p.rows("Tokens"); len(rest) != 6 || rest[0][0] != "token 05" {
		t.Fatalf("the second page lists %v", rest)
	}
	if text := pages.text(); !strings.Contains(text, "26–31 of 31") {
		t.Errorf("the pager says %q", text)
	}

	pages.get("button", "Previous page").click()
	p.row("Tokens", "token 30")
	if again := p.rows("Tokens"); len(again) != 25 || again[24][0] != "token 06" {
		t.Fatalf("back on the first page: %d tokens, last %q", len(again), again[len(again)-1][0])
	}
	if text := pages.text(); !strings.Contains(text, "1–25 of 31") {
		t.Errorf("the pager says %q", text)
	}
}
