package console_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// tokenRows returns the cells of the rows of the Tokens table whose
// description is desc, and each row's actions.
func (p *page) tokenRows(desc string) [][]string {
	p.t.Helper()
	var found [][]string
	for _, cells := range p.rows("Tokens") {
		if len(cells) > 0 && cells[0] == desc {
			found = append(found, cells)
		}
	}
	return found
}

// statusColumn and actionsColumn are the places of those columns in the
// tokens table.
const (
	statusColumn  = 2
	clientsColumn = 5
	actionsColumn = 6
)

// TestRotateAsMember rotates a member's token from its row, as the
// member: the dialog (Escape leaves the token as it was; an impossible
// grace window is refused on its field), a rotation with a grace window
// whose new token is shown once with Copy and Done while the old one
// works on, marked retiring, and a rotation that retires the old token at
// once, which then shows as expired and rotated.
func TestRotateAsMember(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	member := srv.User(apitoken.RoleMember)
	token, _ := mint(t, srv, member, "customers accounts api-tokens api-tokens-write", time.Now().Add(60*24*time.Hour))
	_, deployID := mintDescribed(t, srv, member, "CI deploys", "customers", time.Now().Add(30*24*time.Hour))
	_, nightlyID := mintDescribed(t, srv, member, "Nightly export", "accounts", time.Now().Add(30*24*time.Hour))

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	rotate := p.row("Tokens", "CI deploys").get("button", "Rotate")
	p.axe("the tokens page with Rotate buttons")

	t.Run("Escape closes the dialog and changes nothing", func(t *testing.T) {
		p := p.on(t)
		rotate.click()
		p.get("dialog", "Rotate “CI deploys”?")
		if !p.get("radio", "Now").focused() {
			t.Error("the focus is not on the dialog's first choice, Now")
		}
		if hours := p.get("spinbutton", "Grace period (hours)"); !on[bool](hours, `function() { return this.disabled; }`) {
			t.Error("the grace period can be typed while Now is chosen")
		}
		p.axe("the Rotate dialog")
		// The keyboard alone: the arrow picks the grace period, which
		// opens its field; Tab goes to it.
		p.key(kb.ArrowDown)
		p.until("After a grace period chosen", func() bool { return p.get("radio", "After a grace period").focused() })
		if hours := p.get("spinbutton", "Grace period (hours)"); on[bool](hours, `function() { return this.disabled; }`) {
			t.Error("choosing a grace period by keyboard leaves its field disabled")
		}
		p.key(kb.Tab)
		if !p.get("spinbutton", "Grace period (hours)").focused() {
			t.Error("Tab from the grace period's choice does not reach its field")
		}
		p.key(kb.Escape)
		p.gone("dialog", "Rotate “CI deploys”?")
		if !rotate.focused() {
			t.Error("the focus did not return to Rotate after Escape")
		}
		if tok := mustToken(t, srv, member, "CI deploys"); tok.RotatedTo != "" || len(mustTokens(t, srv, member)) != 3 {
			t.Fatal("Escape rotated the token")
		}
	})

	var shown string
	t.Run("a grace window keeps the old token working, marked retiring", func(t *testing.T) {
		p := p.on(t)
		rotate.click()
		dialog := p.get("dialog", "Rotate “CI deploys”?")
		dialog.get("radio", "After a grace period").click()
		hours := dialog.get("spinbutton", "Grace period (hours)")
		if hours.attr("max") != "168" || hours.value() != "24" {
			t.Errorf("the grace period is %q hours, at most %q; want 24 and 168", hours.value(), hours.attr("max"))
		}
		hours.fill("200")
		dialog.get("button", "Rotate").click()
		p.alert("The token was not rotated")
		p.until("the grace period marked invalid", func() bool { return hours.attr("aria-invalid") == "true" })
		if d := hours.description(); !strings.Contains(d, "previousExpiration") {
			t.Errorf("the grace period is described as %q, without tokend's error", d)
		}
		if !hours.focused() {
			t.Error("the field at fault does not have the focus")
		}
		p.axe("the Rotate dialog with an error")
		if tok := mustToken(t, srv, member, "CI deploys"); tok.RotatedTo != "" {
			t.Fatal("a refused rotation rotated the token")
		}

		hours.fill("48")
		before := time.Now()
		dialog.get("button", "Rotate").click()
		p.gone("dialog", "Rotate “CI deploys”?")
		panel := p.get("region", "Token rotated")
		output := panel.get("textbox", "Token")
		after := time.Now()
		shown = output.value()
		if !strings.HasPrefix(shown, "v2.public.") || !output.focused() {
			t.Fatalf("the new token is shown as %q (focused: %v)", shown, output.focused())
		}
		if text := panel.text(); !strings.Contains(text, "The old token works until") {
			t.Errorf("the panel says %q, not until when the old token works", text)
		}
		p.status(`Token “CI deploys” rotated.`)
		p.axe("the rotated token")

		old := mustTokens(t, srv, member)
		i := slices.IndexFunc(old, func(tok apitoken.Token) bool { return tok.ID == deployID })
		if i < 0 || old[i].RotatedTo == "" {
			t.Fatalf("tokend holds no rotation of the token: %+v", old)
		}
		if lo, hi := before.Add(48*time.Hour).Add(-time.Second), after.Add(48*time.Hour); old[i].Expiration.Before(lo) || old[i].Expiration.After(hi) {
			t.Errorf("the old token expires at %v, want 48 hours ahead", old[i].Expiration)
		}
		j := slices.IndexFunc(old, func(tok apitoken.Token) bool { return tok.ID == old[i].RotatedTo })
		if j < 0 {
			t.Fatalf("tokend holds no token %s, the rotation's new token", old[i].RotatedTo)
		}
		if replacement := old[j]; replacement.RotatedFrom != deployID || replacement.Scope != "customers" || replacement.Description != "CI deploys" {
			t.Errorf("the new token is %+v", replacement)
		}
		if got := getStatus(t, srv, "/users/"+member, shown); got != 200 {
			t.Errorf("the new token gets %d from tokend", got)
		}

		panel.get("button", "Copy").click()
		p.status("Copied to the clipboard.")
		if got := eval[string](p, `navigator.clipboard.readText()`); got != shown {
			t.Errorf("the clipboard holds %q, want the new token", got)
		}

		p.until("two rows of CI deploys", func() bool { return len(p.tokenRows("CI deploys")) == 2 })
		rows := p.tokenRows("CI deploys")
		// Newest first: the new token, then the old one.
		if !strings.Contains(rows[0][statusColumn], "active") || strings.Contains(rows[0][statusColumn], "retiring") ||
			!strings.Contains(rows[0][actionsColumn], "Rotate") {
			t.Errorf("the new token's row reads %q", rows[0])
		}
		if !strings.Contains(rows[1][statusColumn], "active") || !strings.Contains(rows[1][statusColumn], "retiring") ||
			strings.Contains(rows[1][actionsColumn], "Rotate") || !strings.Contains(rows[1][actionsColumn], "Revoke") {
			t.Errorf("the old token's row reads %q, want active, retiring, Revoke but no Rotate", rows[1])
		}

		p.done(panel, "Token rotated", shown)
	})

	t.Run("retired now, the old token stops working and shows as rotated", func(t *testing.T) {
		p := p.on(t)
		p.row("Tokens", "Nightly export").get("button", "Rotate").click()
		dialog := p.get("dialog", "Rotate “Nightly export”?")
		dialog.get("button", "Rotate").click()
		panel := p.get("region", "Token rotated")
		fresh := panel.get("textbox", "Token").value()
		if text := panel.text(); !strings.Contains(text, "The old token no longer works.") {
			t.Errorf("the panel says %q", text)
		}
		p.until("two rows of Nightly export", func() bool { return len(p.tokenRows("Nightly export")) == 2 })
		rows := p.tokenRows("Nightly export")
		if !strings.Contains(rows[1][statusColumn], "expired") || !strings.Contains(rows[1][statusColumn], "rotated") ||
			strings.Contains(rows[1][actionsColumn], "Rotate") {
			t.Errorf("the old token's row reads %q, want expired and rotated", rows[1])
		}
		for _, tok := range mustTokens(t, srv, member) {
			if tok.ID == nightlyID && (tok.RotatedTo == "" || tok.Expiration.After(time.Now())) {
				t.Errorf("tokend holds the old token as %+v, want it rotated and expired", tok)
			}
		}
		if got := getStatus(t, srv, "/users/"+member, fresh); got != 200 {
			t.Errorf("the new token gets %d from tokend", got)
		}
		panel.get("button", "Done").click()
		p.gone("region", "Token rotated")
		p.holdsNoToken(fresh)
		p.axe("the tokens page after rotations")
	})
}

// TestRotateAsAdmin rotates, on every database, a member's token from the
// member's tokens page as an admin, then the admin's own signed-in token,
// which, retired at once, ends the session once Done is pressed.
func TestRotateAsAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		member := srv.User(apitoken.RoleMember)
		email := mustUser(t, srv, member).Email
		_, memberTokenID := mintDescribed(t, srv, member, "Reports", "customers", time.Now().Add(30*24*time.Hour))
		adminToken, adminTokenID := mintDescribed(t, srv, srv.AdminID, "Admin console",
			"users users-write api-tokens api-tokens-write customers", time.Now().Add(30*24*time.Hour))

		p := open(t, srv)
		p.signIn(adminToken, "Your tokens")
		p.get("link", "Users").click()
		p.row("Users", email).get("link", email).click()
		p.get("heading", "Tokens of "+email)
		p.row("Tokens", "Reports").get("button", "Rotate").click()
		dialog := p.get("dialog", "Rotate “Reports”?")
		if strings.Contains(dialog.text(), "You are signed in with this token") {
			t.Error("the dialog says the member's token is the admin's own")
		}
		dialog.get("radio", "After a grace period").click()
		dialog.get("spinbutton", "Grace period (hours)").fill("2")
		dialog.get("checkbox", "Or at the new token's first use, if that comes sooner").click()
		dialog.get("button", "Rotate").click()
		panel := p.get("region", "Token rotated")
		fresh := panel.get("textbox", "Token").value()
		if text := panel.text(); !strings.Contains(text, "or until the new one is first used") {
			t.Errorf("the panel says %q", text)
		}
		var old apitoken.Token
		for _, tok := range mustTokens(t, srv, member) {
			if tok.ID == memberTokenID {
				old = tok
			}
		}
		if old.RotatedTo == "" || old.Expiration.After(time.Now().Add(2*time.Hour)) || old.Expiration.Before(time.Now().Add(time.Hour)) {
			t.Fatalf("tokend holds the member's old token as %+v, want it retiring in 2 hours", old)
		}
		p.until("two rows of Reports", func() bool { return len(p.tokenRows("Reports")) == 2 })
		if rows := p.tokenRows("Reports"); !strings.Contains(rows[1][statusColumn], "retiring") {
			t.Errorf("the old token's row reads %q", rows[1])
		}
		panel.get("button", "Done").click()
		p.gone("region", "Token rotated")

		// The new token's first use retires the old one.
		if got := getStatus(t, srv, "/users/"+member, fresh); got != 200 {
			t.Fatalf("the member's new token gets %d", got)
		}
		p.get("combobox", "Status").choose("active")
		p.until("one row of Reports", func() bool { return len(p.tokenRows("Reports")) == 1 })

		// The admin's own token, retired at once.
		p.get("link", "Tokens").click()
		p.get("heading", "Your tokens")
		p.row("Tokens", "Admin console").get("button", "Rotate").click()
		dialog = p.get("dialog", "Rotate “Admin console”?")
		if !strings.Contains(dialog.text(), "You are signed in with this token") {
			t.Errorf("the dialog does not say the token is the signed-in one: %q", dialog.text())
		}
		p.axe("the Rotate dialog of the signed-in token")
		dialog.get("button", "Rotate").click()
		panel = p.get("region", "Token rotated")
		renewed := panel.get("textbox", "Token").value()
		if text := panel.text(); !strings.Contains(text, "Done signs you out") {
			t.Errorf("the panel says %q", text)
		}
		if got := getStatus(t, srv, "/users/"+srv.AdminID, adminToken); got != 401 {
			t.Errorf("the admin's old token gets %d, want 401", got)
		}
		if got := getStatus(t, srv, "/users/"+srv.AdminID, renewed); got != 200 {
			t.Errorf("the admin's new token gets %d, want 200", got)
		}
		if tok := mustTokens(t, srv, srv.AdminID); !slices.ContainsFunc(tok, func(x apitoken.Token) bool { return x.ID == adminTokenID && x.RotatedTo != "" }) {
			t.Error("tokend holds no rotation of the admin's token")
		}
		panel.get("button", "Done").click()
		p.get("heading", "Sign in")
		p.status("Signed out")
		p.holdsNoToken(renewed)
		p.holdsNoToken(adminToken)
		p.signIn(renewed, "Your tokens")
	})
}
