package console_test

import (
	_ "embed"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/internal/tokendtest"
)

// TestChecksSeeProblems makes sure the checks every browser test relies on
// can fail: axe-core reports an unlabelled field, and the page's
// Content-Security-Policy blocks inline script and style, which the
// tests' probe reports.
func TestChecksSeeProblems(t *testing.T) {
	srv := tokendtest.Start(t, tokendtest.Options{})
	p := open(t, srv)
	p.get("heading", "Sign in")

	eval[bool](p, `(() => { const i = document.createElement('input'); i.id = 'unlabelled'; document.body.append(i); return true; })()`)
	if found := p.axeViolations(); !slices.ContainsFunc(found, func(v axeViolation) bool { return v.ID == "label" }) {
		t.Errorf("axe-core does not report an unlabelled field: %v", found)
	}
	eval[bool](p, `(document.getElementById('unlabelled').remove(), true)`)

	ran := eval[bool](p, `(() => {
	  const s = document.createElement('script');
	  s.textContent = 'window.__inlineRan = true';
	  document.body.append(s);
	  document.body.setAttribute('style', 'background: red');
	  return window.__inlineRan === true;
	})()`)
	if ran {
		t.Error("an inline script ran")
	}
	if bg := eval[string](p, `getComputedStyle(document.body).backgroundColor`); bg == "rgb(255, 0, 0)" {
		t.Error("an inline style attribute applied")
	}
	var seen []string
	p.until("the CSP violations to be reported", func() bool {
		seen = eval[[]string](p, `window.__cspViolations`)
		return len(seen) >= 2
	})
	joined := strings.Join(seen, "\n")
	if !strings.Contains(joined, "script-src") || !strings.Contains(joined, "style-src") {
		t.Errorf("violations seen: %v, want script-src and style-src ones", seen)
	}
	// Clean again for the check at the end of every test.
	eval[bool](p, `(document.body.removeAttribute('style'), window.__cspViolations = [], true)`)
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
