package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/webhook"
)

func TestSignatureVerifiesWithTheOfficialLibrary(t *testing.T) {
	key, shown := webhook.NewSecret()
	if !strings.HasPrefix(shown, "whsec_") || len(key) != 32 {
		t.Fatalf("secret %q, key of %d bytes", shown, len(key))
	}
	body := []byte(`{"type":"apiToken.revoked","timestamp":"2026-12-07T00:00:00.000Z","data":{}}`)
	h := http.Header{}
	webhook.SetHeaders(h, key, "msg_1", time.Now(), body)
	wh, err := standardwebhooks.NewWebhook(shown)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("the official library refuses the signature: %v", err)
	}
	want, _ := wh.Sign("msg_1", time.Unix(1_700_000_000, 0), body)
	if got := webhook.Sign(key, "msg_1", time.Unix(1_700_000_000, 0), body); got != want {
		t.Errorf("Sign = %s, official %s", got, want)
	}
	if err := wh.Verify(append(body, ' '), h); err == nil {
		t.Error("a changed body verifies")
	}
	other, _ := webhook.NewSecret()
	h2 := http.Header{}
	webhook.SetHeaders(h2, other, "msg_1", time.Now(), body)
	if err := wh.Verify(body, h2); err == nil {
		t.Error("another secret's signature verifies")
	}
}

func TestGuardRefusesPrivateAddresses(t *testing.T) {
	g := &webhook.Guard{}
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"169.254.1.1", "fe80::1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
		"fd00:ec2::254", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "255.255.255.255"} {
		if g.Permitted(netip.MustParseAddr(a)) == nil {
			t.Errorf("%s is permitted", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"} {
		if err := g.Permitted(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s is refused: %v", a, err)
		}
	}
	if (&webhook.Guard{AllowPrivate: true}).Permitted(netip.MustParseAddr("127.0.0.1")) != nil {
		t.Error("AllowPrivate refuses loopback")
	}
}

func TestGuardCheckURL(t *testing.T) {
	g := &webhook.Guard{}
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1/", "http://localhost:8080/x", "https://[::1]/", "http://10.0.0.1/"} {
		err := g.CheckURL(ctx, u)
		var e *apitoken.Error
		if !errors.As(err, &e) || e.Code != apitoken.Unprocessable || e.Field != "url" {
			t.Errorf("CheckURL(%s) = %v, want unprocessable on url", u, err)
		}
	}
	if err := g.CheckURL(ctx, "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address is refused: %v", err)
	}
}

// TestGuardRefusesAtConnectTime dials a real listener on loopback through
// a dialer with the guard's Control: the check made at connect time, which
// holds whatever a name resolved to when the webhook was saved.
func TestGuardRefusesAtConnectTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	guarded := func(g *webhook.Guard) *http.Client {
		d := &net.Dialer{Control: g.Control}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	_, err := guarded(&webhook.Guard{}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "refused connection") {
		t.Fatalf("a connection to loopback was made: %v", err)
	}
	// A name is resolved by the dialer, then refused by its address.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if _, err := guarded(&webhook.Guard{}).Get("http://localhost:" + port); err == nil {
		t.Fatal("a connection to localhost was made")
	}
	resp, err := guarded(&webhook.Guard{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("AllowPrivate refused: %v", err)
	}
	resp.Body.Close()
}

func TestBackoff(t *testing.T) {
	b := webhook.DefaultBackoff
	if w := b.Nominal(1); w > 10*time.Second {
		t.Errorf("first retry after %v, want within 10s", w)
	}
	if total := b.Total(); total < 18*time.Hour || total > 30*time.Hour {
		t.Errorf("retries spread over %v, want about a day", total)
	}
	for n := 1; n <= b.Retries; n++ {
		w, ok := b.Wait(n)
		if !ok || w < b.Nominal(n)/2 || w > b.Nominal(n) {
			t.Errorf("Wait(%d) = %v, %v; want in [%v, %v]", n, w, ok, b.Nominal(n)/2, b.Nominal(n))
		}
	}
	if _, ok := b.Wait(b.Retries + 1); ok {
		t.Error("a retry past Retries")
	}
}

func TestValidation(t *testing.T) {
	yes := true
	w, err := webhook.Request{URL: "https://example.com/h", Events: []string{"user.created", "*", "user.created"}, Enabled: &yes}.Validate()
	if err != nil || strings.Join(w.Events, ",") != "*,user.created" || !w.Matches("anything.at") {
		t.Fatalf("Validate = %+v, %v", w, err)
	}
	_, err = webhook.Request{URL: "/relative", Events: []string{}, Description: "a\x00b"}.Validate()
	if n := len(apitoken.ErrorList(err)); n != 3 {
		t.Errorf("got %d problems, want 3: %v", n, err)
	}
	if _, err := (webhook.Request{URL: "https://example.com/", Events: []string{"apiToken.revokd"}}).Validate(); err == nil {
		t.Error("an unknown action is accepted")
	}
	w = webhook.Webhook{Events: []string{"user.created"}, Enabled: false, Failures: 7}
	if err := (webhook.Update{Enabled: &yes}).Apply(&w); err != nil || !w.Enabled || w.Failures != 0 {
		t.Errorf("re-enabling: %+v, %v", w, err)
	}
	if w.Matches("user.updated") || !w.Matches("user.created") {
		t.Error("Matches")
	}
}

func TestRedactURL(t *testing.T) {
	secret := "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
	got := webhook.RedactURL(secret)
	if strings.Contains(got, "XXXXsecretXXXX") || !strings.HasPrefix(got, "https://hooks.slack.com/… (sha256:") {
		t.Errorf("RedactURL(%q) = %q, want the host and a fingerprint only", secret, got)
	}
	if other := webhook.RedactURL(secret + "2"); other == got {
		t.Errorf("two paths redact alike: %q", got)
	}
	if got := webhook.RedactURL("https://example.com/"); got != "https://example.com/" {
		t.Errorf("a URL without path = %q", got)
	}
}
