// The console's tests drive it in a real headless Chromium (Debian's
// chromium package) through chromedp, the way a person uses it: they find
// controls by their role and accessible name, from Chromium's own
// accessibility tree, click them with mouse events and type with keyboard
// events, and check what the page then shows and what tokend then holds.
// Every page, form and dialog is also checked with axe-core
// (testdata/axe/axe.min.js) and for Content-Security-Policy violations and
// uncaught exceptions.
//
// CI installs chromium and sets TOKEND_TEST_CHROMIUM to its path; then a
// missing or broken browser fails the tests. Elsewhere they run when
// chromium is on PATH, and are skipped otherwise.
package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/internal/tokendtest"
)

// EnvChromium names the Chromium binary the tests must use.
const EnvChromium = "TOKEND_TEST_CHROMIUM"

// browser is the one Chromium of the test binary, started by the first
// test that needs it and stopped by TestMain; each test gets a tab in a
// browser context (profile) of its own.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
		os.RemoveAll(browser.dir)
	}
	os.Exit(code)
}

// chromium returns the path of the browser, or skips the test when none
// is installed and CI did not ask for one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s: %v", EnvChromium, p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("chromium is not installed (CI installs it and sets %s)", EnvChromium)
	return ""
}

// startBrowser returns the context of the shared browser.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	browser.once.Do(func() {
		browser.dir, browser.err = os.MkdirTemp("", "tokend-chromium-")
		if browser.err != nil {
			return
		}
		// Quiet: no connection anywhere but to the test's servers.
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.UserDataDir(browser.dir),
			chromedp.WindowSize(1200, 900),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-default-apps", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
			chromedp.Flag("metrics-recording-only", true),
			chromedp.Flag("password-store", "basic"),
		)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		browser.ctx = ctx
		browser.cancel = func() { cancelCtx(); cancelAlloc() }
		browser.err = chromedp.Do(ctx) // starts the browser
	})
	if browser.err != nil {
		t.Fatalf("start chromium: %v", browser.err)
	}
	return browser.ctx
}

// page is one tab on the console of a tokend, as a test (or subtest)
// drives it.
type page struct {
	t *testing.T
	*tab
}

// tab is the browser tab.
type tab struct {
	ctx context.Context
	srv *tokendtest.Server

	mu         sync.Mutex
	exceptions []string
}

// on returns the page for a subtest, which reports its failures.
func (p *page) on(t *testing.T) *page { return &page{t: t, tab: p.tab} }

// cspProbe records Content-Security-Policy violations as the page sees
// them, before any of the page's own scripts run.
const cspProbe = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// open opens the console of srv in a new tab of its own browser context,
// in the UTC time zone, and fails the test at its end if the page threw an
// exception or violated its Content-Security-Policy.
func open(t *testing.T, srv *tokendtest.Server) *page {
	t.Helper()
	tabCtx, cancel := chromedp.NewContext(startBrowser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tabCtx); err != nil { // opens the tab
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	p := &page{t: t, tab: &tab{ctx: ctx, srv: srv}}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			p.mu.Lock()
			p.exceptions = append(p.exceptions, fmt.Sprintf("%s (%s:%d)", text, d.URL, d.LineNumber+1))
			p.mu.Unlock()
		}
	}()
	p.call(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"}); err != nil {
			return err
		}
		// The test reads back what Copy wrote.
		for _, perm := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted,
				Origin: srv.URL, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	p.do(chromedp.Navigate(srv.URL + "/console/"))
	t.Cleanup(p.checkClean)
	return p
}

// call runs f with the tab's context, failing the test on an error.
func (p *page) call(f func(ctx context.Context) error) {
	p.t.Helper()
	if err := f(p.ctx); err != nil {
		p.t.Fatal(err)
	}
}

// do runs chromedp actions.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %.80q: %v", expr, err)
	}
	return v
}

// checkClean fails the test if the page reported a CSP violation or threw
// an exception.
func (p *page) checkClean() {
	p.t.Helper()
	if v := eval[[]string](p, `window.__cspViolations || []`); len(v) > 0 {
		p.t.Errorf("Content-Security-Policy violations: %v", v)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.exceptions) > 0 {
		p.t.Errorf("uncaught exceptions: %v", p.exceptions)
	}
}

// waitLimit bounds each wait for the page: far above what any step takes,
// so that a step that never happens fails with what was awaited.
const waitLimit = 20 * time.Second

// until waits for cond to hold, checking again every few milliseconds.
func (p *page) until(what string, cond func() bool) {
	p.t.Helper()
	if err := p.wait(cond); err != nil {
		p.t.Fatalf("gave up waiting for %s: %v", what, err)
	}
}

// wait waits for cond to hold, and returns an error if it did not within
// waitLimit.
func (p *page) wait(cond func() bool) error {
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", waitLimit)
		}
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
