package console_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

// TestUsersAsAdmin goes through the users page as the bootstrap admin, on
// every database: New user with its errors on the fields, a service user
// created, its tokens reached from its row and a token created for it
// (offered the user's scopes, not the admin token's), then the user
// disabled after a confirmation and enabled again.
func TestUsersAsAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		srv := tokendtest.Start(t, tokendtest.Options{DatabaseURL: url})
		p := open(t, srv)
		p.signIn(srv.AdminToken, "Your tokens")
		p.get("link", "Users").click()
		p.get("heading", "Users")
		p.row("Users", "admin@tokend.local")
		p.axe("the users page")

		p.get("button", "New user").click()
		p.get("form", "New user")
		if !p.get("textbox", "Email").focused() {
			t.Error("the Email field does not have the focus when the form opens")
		}
		p.axe("the New user form")
		p.get("textbox", "Email").fill("not an address")
		p.get("button", "Create").click()
		p.alert("The user was not created")
		if email := p.get("textbox", "Email"); email.attr("aria-invalid") != "true" || !strings.Contains(email.description(), "email") {
			t.Errorf("the Email field is not marked invalid with the API's error: %q", email.description())
		}
		p.axe("the New user form with errors")

		p.get("textbox", "Email").fill("robot@example.com")
		p.get("combobox", "Role").choose("member")
		p.get("checkbox", "Service (non-interactive)").click()
		p.get("button", "Create").click()
		p.status("User robot@example.com created.")
		p.gone("form", "New user")
		row := p.row("Users", "robot@example.com")
		if text := row.text(); !strings.Contains(text, "member") || !strings.Contains(text, "Service") {
			t.Errorf("the new user's row reads %q", text)
		}
		robot := userByEmail(t, srv, "robot@example.com")
		if robot.Role != apitoken.RoleMember || !robot.Service || robot.Disabled {
			t.Fatalf("tokend holds %+v", robot)
		}

		row.get("link", "robot@example.com").click()
		p.get("heading", "Tokens of robot@example.com")
		p.get("button", "New token").click()
		form := p.get("form", "New token")
		var offered []string
		for _, c := range p.query(form.id, "checkbox", "") {
			offered = append(offered, c.name)
		}
		if want := robot.AllowedScopes(srv.Service.Catalog()); !slices.Equal(offered, want) {
			t.Errorf("scopes offered for the service user: %v, want its allowed scopes %v", offered, want)
		}
		if got := p.get("spinbutton", "Expires in (days)").value(); got != "30" {
			t.Errorf("Expires in (days) = %q, want the default 30", got)
		}
		p.get("textbox", "Description").fill("Nightly export")
		p.get("checkbox", "customers").click()
		p.get("button", "Create").click()
		p.get("region", "Token created").get("button", "Done").click()
		if tok := mustToken(t, srv, robot.ID, "Nightly export"); tok.Scope != "customers" {
			t.Errorf("the service user's token has scope %q", tok.Scope)
		}
		p.row("Tokens", "Nightly export")
		p.axe("a user's tokens page")

		p.get("link", "Users").click()
		disable := p.row("Users", "robot@example.com").get("button", "Disable")
		disable.click()
		dialog := p.get("dialog", "Disable this user?")
		p.axe("the Disable dialog")
		dialog.get("button", "Disable").click()
		p.status("robot@example.com disabled.")
		if !userByEmail(t, srv, "robot@example.com").Disabled {
			t.Fatal("the user is not disabled")
		}
		enable := p.row("Users", "robot@example.com").get("button", "Enable")
		enable.click()
		p.status("robot@example.com enabled.")
		if userByEmail(t, srv, "robot@example.com").Disabled {
			t.Fatal("the user is still disabled")
		}
		p.row("Users", "robot@example.com").get("button", "Disable")
	})
}

// userByEmail reads the user with the email from tokend's database.
func userByEmail(t *testing.T, srv *tokendtest.Server, email string) apitoken.User {
	t.Helper()
	users, _, err := srv.Store.Users.List(context.Background(), 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return apitoken.User{}
}
