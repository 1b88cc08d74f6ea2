package console_test

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/tokendtest"
)

var screenshots = flag.String("screenshots", "",
	"write the README's screenshots of the console into this directory (go test ./internal/console -run TestScreenshots -screenshots ../../docs/console)")

// TestScreenshots takes the README's pictures of the console's main pages
// (sign-in, tokens with their recent clients, the New token form, a
// created token, the Rotate dialog, users, audit events) from a console with a few
// tokens and users, checks they are pictures of the page, and, with
// -screenshots, writes them.
func TestScreenshots(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{TrustedProxies: "127.0.0.1/32"})
	for _, email := range []string{"deploy-bot@example.com", "grace@example.com"} {
		if _, err := srv.Service.AddUser(t.Context(), apitoken.UserRequest{Email: email, Role: string(apitoken.RoleMember),
			Service: email == "deploy-bot@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []struct {
		desc, scope string
		clients     [][2]string
	}{
		{"Billing reconciliation", "payments accounts", [][2]string{{"10.20.0.7", "billing-sync/2.4"}, {"10.20.0.8", "billing-sync/2.4"}}},
		{"Customer support tools", "customers accounts", [][2]string{{"192.0.2.15", "curl/8.5.0"}}},
	} {
		raw, _ := mintDescribed(t, srv, srv.AdminID, tok.desc, tok.scope, time.Now().Add(90*24*time.Hour))
		for _, c := range tok.clients {
			useFrom(t, srv, raw, "/users/"+srv.AdminID, c[0], c[1])
		}
	}
	if err := srv.Service.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}

	p := open(t, srv)
	p.do(chromedp.EmulateViewport(1100, 720))
	shot := func(name string) {
		t.Helper()
		// The page from its top, with no caret and no hovered button.
		eval[bool](p, `(document.activeElement && document.activeElement.blur && document.activeElement.blur(), window.scrollTo(0, 0), true)`)
		p.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1099, 719))
		buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != 720 {
			t.Errorf("%s is %v, want 1100×720", name, b)
		}
		if *screenshots != "" {
			// Chromium compresses for speed; the README's copies are
			// compressed for size.
			var small bytes.Buffer
			enc := png.Encoder{CompressionLevel: png.BestCompression}
			if err := enc.Encode(&small, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), small.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	p.get("heading", "Sign in")
	shot("sign-in")

	p.signIn(srv.AdminToken, "Your tokens")
	p.row("Tokens", "Customer support tools")
	shot("tokens")

	p.get("button", "New token").click()
	p.get("textbox", "Description").fill("Production deploys")
	p.get("checkbox", "customers").click()
	p.get("checkbox", "applications").click()
	p.get("textbox", "Source IPs").fill("10.0.0.0/8")
	shot("new-token")

	p.get("button", "Create").click()
	p.get("region", "Token created")
	p.row("Tokens", "Production deploys")
	shot("created")
	p.get("button", "Done").click()

	p.row("Tokens", "Billing reconciliation").get("button", "Rotate").click()
	dialog := p.get("dialog", "Rotate “Billing reconciliation”?")
	dialog.get("radio", "After a grace period").click()
	shot("rotate")
	p.key(kb.Escape)
	p.gone("dialog", "Rotate “Billing reconciliation”?")

	p.get("link", "Users").click()
	p.row("Users", "grace@example.com")
	shot("users")

	p.get("link", "Audit").click()
	p.get("heading", "Audit events")
	p.until("the events", func() bool { return len(p.rows("Audit events")) > 5 })
	shot("audit")
}
