package console_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

// useFrom uses the token at tokend as a client at the address (through a
// trusted proxy) with the user agent would.
func useFrom(t *testing.T, srv *tokendtest.Server, token, path, ip, agent string) {
	t.Helper()
	resp := get(t, srv, path, token, map[string]string{"X-Forwarded-For": ip, "User-Agent": agent})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s from %s: %s", path, ip, resp.Status)
	}
}

// TestRecentClients uses a member's token from six addresses and checks
// its row's Recent clients as the member and as an admin: the last five
// addresses, in tokend's order (newest first), each with its user agent
// and time in text a screen reader reads; a token never used says None.
func TestRecentClients(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	member := srv.User(apitoken.RoleMember)
	token, _ := mint(t, srv, member, "customers api-tokens api-tokens-write", time.Now().Add(24*time.Hour))
	used, _ := mintDescribed(t, srv, member, "Deploys", "customers", time.Now().Add(24*time.Hour))
	mintDescribed(t, srv, member, "Unused", "customers", time.Now().Add(24*time.Hour))
	for i := 1; i <= 6; i++ {
		useFrom(t, srv, used, "/users/"+member, fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("deploy-agent/%d.0", i))
	}
	if err := srv.Service.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	held := mustToken(t, srv, member, "Deploys").RecentClients
	if len(held) != apitoken.MaxRecentClients {
		t.Fatalf("tokend holds %d recent clients, want %d: %+v", len(held), apitoken.MaxRecentClients, held)
	}

	check := func(p *page) {
		p.t.Helper()
		row := p.row("Tokens", "Deploys")
		cell := on[[]string](row, `function(n) {
		  const c = this.cells[n];
		  return [...c.querySelectorAll('li')].map((li) => li.querySelector('.ip').textContent);
		}`, clientsColumn)
		var want []string
		for _, c := range held {
			want = append(want, c.IP)
		}
		if strings.Join(cell, " ") != strings.Join(want, " ") {
			p.t.Errorf("Recent clients shows %v, want tokend's %v", cell, want)
		}
		if slices.Contains(cell, "203.0.113.1") {
			p.t.Errorf("Recent clients shows the first of six addresses, which tokend no longer keeps: %v", cell)
		}
		// What a screen reader reads: each address, then its user agent
		// and time, from the accessibility tree.
		read := on[[]string](row, `function(n) {
		  return [...this.cells[n].querySelectorAll('li')].map((li) => li.textContent);
		}`, clientsColumn)
		for i, c := range held {
			if i >= len(read) {
				break
			}
			at := c.At.UTC().Format("Jan 2, 2006")
			if !strings.Contains(read[i], c.IP+", "+c.UserAgent+", last used ") || !strings.Contains(read[i], at) {
				p.t.Errorf("client %d reads %q, want its address, user agent %s and date %s", i, read[i], c.UserAgent, at)
			}
		}
		names := p.query(row.node(), "StaticText", "")
		var spoken []string
		for _, n := range names {
			spoken = append(spoken, n.name)
		}
		if joined := strings.Join(spoken, " "); !strings.Contains(joined, held[0].UserAgent) {
			p.t.Errorf("the accessibility tree of the row reads %q, without the user agent %s", joined, held[0].UserAgent)
		}
		if text := p.row("Tokens", "Unused").text(); !strings.Contains(text, "None") {
			p.t.Errorf("the unused token's row reads %q", text)
		}
		p.axe("the Recent clients column")
	}

	p := open(t, srv)
	p.signIn(token, "Your tokens")
	check(p)

	p.get("button", "Sign out").click()
	p.signIn(srv.AdminToken, "Your tokens")
	p.get("link", "Users").click()
	email := mustUser(t, srv, member).Email
	p.row("Users", email).get("link", email).click()
	p.get("heading", "Tokens of "+email)
	check(p)
}
