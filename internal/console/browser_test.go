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
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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

// el is an element found by its role and accessible name.
type el struct {
	p          *page
	id         cdp.BackendNodeID
	role, name string
	// find, when set, finds the element again: queries inside it then
	// look in the element as it is now, not in one a re-render replaced.
	find func() (cdp.BackendNodeID, bool)
}

func (e *el) String() string { return fmt.Sprintf("%s %q", e.role, e.name) }

// query returns the elements below root (the document when 0) that have
// the role and the accessible name, exactly ("" for any), and that are
// not hidden from assistive technology. A query that meets the page while
// it changes is asked again.
func (p *page) query(root cdp.BackendNodeID, role, name string) []*el {
	p.t.Helper()
	var found []*el
	var err error
	if werr := p.wait(func() bool {
		found, err = p.queryOnce(root, role, name)
		return err == nil
	}); werr != nil {
		p.t.Fatalf("query %s %q: %v", role, name, err)
	}
	return found
}

func (p *page) queryOnce(root cdp.BackendNodeID, role, name string) ([]*el, error) {
	params := accessibility.QueryAXTreeParams{BackendNodeID: root, Role: role, AccessibleName: name}
	if root == 0 {
		doc, err := chromedp.Call(p.ctx, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil {
			return nil, err
		}
		params.BackendNodeID = doc.Root.BackendNodeID
	}
	res, err := chromedp.Call(p.ctx, accessibility.QueryAXTree, params)
	if err != nil {
		return nil, err
	}
	var found []*el
	for _, n := range res.Nodes {
		if n.Ignored || n.BackendDOMNodeID == 0 {
			continue
		}
		var nodeName string
		if n.Name != nil {
			json.Unmarshal(n.Name.Value, &nodeName)
		}
		nodeRole := role
		if n.Role != nil {
			json.Unmarshal(n.Role.Value, &nodeRole)
		}
		found = append(found, &el{p: p, id: n.BackendDOMNodeID, role: nodeRole, name: nodeName})
	}
	return found, nil
}

// all returns the elements with the role and name now, without waiting.
func (p *page) all(role, name string) []*el {
	p.t.Helper()
	return p.query(0, role, name)
}

// get waits for exactly one element with the role and name, and returns it.
func (p *page) get(role, name string) *el {
	p.t.Helper()
	return p.within(nil, role, name)
}

// get waits for exactly one element with the role and name inside e.
func (e *el) get(role, name string) *el {
	e.p.t.Helper()
	return e.p.within(e, role, name)
}

func (p *page) within(root *el, role, name string) *el {
	p.t.Helper()
	var found []*el
	if err := p.wait(func() bool {
		var id cdp.BackendNodeID
		if root != nil {
			id = root.id
			if root.find != nil {
				var ok bool
				if id, ok = root.find(); !ok {
					return false
				}
			}
		}
		var err error
		found, err = p.queryOnce(id, role, name)
		return err == nil && len(found) == 1
	}); err != nil {
		p.t.Fatalf("gave up waiting for one %s named %q (%d found): %v\nthe page: %s", role, name, len(found), err,
			eval[string](p, `document.body.outerHTML`))
	}
	return found[0]
}

// gone waits until no element has the role and name.
func (p *page) gone(role, name string) {
	p.t.Helper()
	p.until(fmt.Sprintf("no %s named %q", role, name), func() bool { return len(p.all(role, name)) == 0 })
}

// on calls a JavaScript function with the element as this, and decodes
// its result.
func on[T any](e *el, fn string, args ...any) T {
	e.p.t.Helper()
	v, err := tryOn[T](e, fn, args...)
	if err != nil {
		e.p.t.Fatal(err)
	}
	return v
}

// tryOn is on, returning an error (such as the element's having left the
// page) rather than failing the test.
func tryOn[T any](e *el, fn string, args ...any) (T, error) {
	var v T
	id := e.id
	if e.find != nil {
		if now, ok := e.find(); ok {
			id = now
		}
	}
	obj, err := chromedp.Call(e.p.ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: id})
	if err != nil {
		return v, fmt.Errorf("%v: %w", e, err)
	}
	defer chromedp.Call(e.p.ctx, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
	v, err = chromedp.Run(e.p.ctx, chromedp.CallFunctionOn[T](fn, func(p *runtime.CallFunctionOnParams) {
		p.ObjectID = obj.Object.ObjectID
		p.AwaitPromise = new(true)
	}, args...))
	if err != nil {
		return v, fmt.Errorf("%v: %w", e, err)
	}
	return v, nil
}

// nodeOn calls a JavaScript function with the element as this that
// returns an element or null, and returns that element's node id (0 for
// null).
func nodeOn(e *el, fn string, args ...any) (cdp.BackendNodeID, error) {
	obj, err := tryOn[*runtime.RemoteObject](e, fn, args...)
	if err != nil || obj == nil || obj.ObjectID == "" {
		return 0, err
	}
	defer chromedp.Call(e.p.ctx, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.ObjectID})
	n, err := chromedp.Call(e.p.ctx, dom.DescribeNode, dom.DescribeNodeParams{ObjectID: obj.ObjectID})
	if err != nil {
		return 0, err
	}
	return n.Node.BackendNodeID, nil
}

// innerText is the function that reads what an element shows.
const innerText = `function() { return this.innerText; }`

// text returns what the element shows: its innerText.
func (e *el) text() string { return on[string](e, innerText) }

// value returns a form control's value.
func (e *el) value() string { return on[string](e, `function() { return this.value; }`) }

// attr returns an attribute of the element, or "" when it has none.
func (e *el) attr(name string) string {
	return on[string](e, `function(n) { return this.getAttribute(n) || ''; }`, name)
}

// description returns the element's accessible description: its hints and
// error messages, as a screen reader reads them after its name.
func (e *el) description() string {
	return on[string](e, `function() {
	  const ids = (this.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
	  return ids.map((id) => document.getElementById(id)).filter((n) => n && !n.hidden).map((n) => n.textContent).join(' ');
	}`)
}

// focused reports whether the element has the keyboard focus.
func (e *el) focused() bool {
	return on[bool](e, `function() { return document.activeElement === this; }`)
}

// click clicks the middle of the element with the mouse, as a person does.
func (e *el) click() {
	e.p.t.Helper()
	e.p.call(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: e.id}); err != nil {
			return fmt.Errorf("%v: %w", e, err)
		}
		q, err := chromedp.Call(ctx, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: e.id})
		if err != nil || len(q.Quads) == 0 {
			return fmt.Errorf("%v has no box to click: %v", e, err)
		}
		var x, y float64
		for i := 0; i < 8; i += 2 {
			x, y = x+q.Quads[0][i]/4, y+q.Quads[0][i+1]/4
		}
		return chromedp.Do(ctx, chromedp.MouseClickXY(x, y))
	})
}

// fill replaces a text field's content with text, typed as key events.
func (e *el) fill(text string) {
	e.p.t.Helper()
	e.p.call(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, dom.Focus, dom.FocusParams{BackendNodeID: e.id}); err != nil {
			return fmt.Errorf("%v: %w", e, err)
		}
		return nil
	})
	on[chromedp.Void](e, `function() { this.select(); }`)
	if text == "" {
		e.p.key(kb.Delete)
		return
	}
	e.p.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// choose sets a <select> or a date field to the value, as picking it does.
func (e *el) choose(value string) {
	e.p.t.Helper()
	on[chromedp.Void](e, `function(v) {
	  this.focus();
	  this.value = v;
	  this.dispatchEvent(new Event('input', { bubbles: true }));
	  this.dispatchEvent(new Event('change', { bubbles: true }));
	}`, value)
}

// key presses a key (such as kb.Escape) on whatever has the focus.
func (p *page) key(k string) {
	p.t.Helper()
	p.do(chromedp.KeyEvent(k))
}

// axeSource is axe-core, to check the page for accessibility problems.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeViolation is what the test reports of one axe-core violation.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core on the page as it is now (what is open: a form, a
// dialog) and fails the test on any serious or critical violation; what
// names what was checked. It also checks that no CSP violation happened.
func (p *page) axe(what string) {
	p.t.Helper()
	for _, v := range p.axeViolations() {
		p.t.Errorf("axe, %s: %s (%s): %s at %v", what, v.ID, v.Impact, v.Help, v.Nodes)
	}
	if v := eval[[]string](p, `window.__cspViolations`); len(v) > 0 {
		p.t.Errorf("%s: Content-Security-Policy violations: %v", what, v)
	}
}

// axeViolations returns the serious and critical violations axe-core finds
// in the page.
func (p *page) axeViolations() []axeViolation {
	p.t.Helper()
	if !eval[bool](p, `typeof window.axe === 'object'`) {
		eval[chromedp.Void](p, axeSource)
	}
	return eval[[]axeViolation](p, `axe.run(document, { resultTypes: ['violations'] }).then((r) =>
	  r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) =>
	    ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))`)
}

// alert waits for an alert whose text contains want, and returns its text.
func (p *page) alert(want string) string {
	p.t.Helper()
	var text string
	p.until(fmt.Sprintf("an alert saying %q", want), func() bool {
		for _, a := range p.all("alert", "") {
			if t, err := tryOn[string](a, innerText); err == nil && strings.Contains(t, want) {
				text = t
				return true
			}
		}
		return false
	})
	return text
}

// status waits for a status message whose text contains want.
func (p *page) status(want string) {
	p.t.Helper()
	p.until(fmt.Sprintf("a status saying %q", want), func() bool {
		for _, a := range p.all("status", "") {
			if t, err := tryOn[string](a, innerText); err == nil && strings.Contains(t, want) {
				return true
			}
		}
		return false
	})
}

// rows returns the text of each row of the table's body, cell by cell.
func (p *page) rows(table string) [][]string {
	p.t.Helper()
	t := p.get("table", table)
	return on[[][]string](t, `function() {
	  return [...this.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.innerText.trim()));
	}`)
}

// row waits for the row of the table's body whose first cell is name,
// and returns it. Queries inside the row look in the row as the table
// shows it then, which may have reloaded since.
func (p *page) row(table, name string) *el {
	p.t.Helper()
	find := func() (cdp.BackendNodeID, bool) {
		// The table reloads as the test reads it: anything may be gone.
		tables, err := p.queryOnce(0, "table", table)
		if err != nil || len(tables) != 1 {
			return 0, false
		}
		id, err := nodeOn(tables[0], `function(n) {
		  return [...this.tBodies[0].rows].find((r) => r.cells[0].innerText.trim() === n) || null;
		}`, name)
		return id, err == nil && id != 0
	}
	found := &el{p: p, role: "row", name: name, find: find}
	p.until(fmt.Sprintf("a row %q in %s", name, table), func() bool {
		var ok bool
		found.id, ok = find()
		return ok
	})
	return found
}

// noRow waits until no row of the table has name as its first cell.
func (p *page) noRow(table, name string) {
	p.t.Helper()
	p.until(fmt.Sprintf("no row %q in %s", name, table), func() bool {
		return !slices.ContainsFunc(p.rows(table), func(cells []string) bool { return len(cells) > 0 && cells[0] == name })
	})
}

// signIn signs in with the token and waits for the page after it.
func (p *page) signIn(token, heading string) {
	p.t.Helper()
	p.get("textbox", "Token").fill(token)
	p.get("button", "Sign in").click()
	p.get("heading", heading)
}

// holdsNoToken fails the test if the token is anywhere the browser keeps
// things: storage, cookies, the URL, the document, its fields.
func (p *page) holdsNoToken(token string) {
	p.t.Helper()
	where := eval[[]string](p, fmt.Sprintf(`(() => {
	  const t = %q, found = [];
	  if (localStorage.length > 0) found.push('localStorage holds ' + localStorage.length + ' items');
	  if (sessionStorage.length > 0) found.push('sessionStorage holds ' + sessionStorage.length + ' items');
	  if (document.cookie !== '') found.push('cookies: ' + document.cookie);
	  if (location.href.includes(t) || history.state !== null && JSON.stringify(history.state).includes(t)) found.push('the URL or history');
	  if (document.documentElement.outerHTML.includes(t)) found.push('the document');
	  for (const f of document.querySelectorAll('input, textarea')) if (f.value.includes(t)) found.push('field ' + (f.id || f.name));
	  return found;
	})()`, token))
	if len(where) > 0 {
		p.t.Errorf("the token is kept in: %v", where)
	}
}
