package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Finding the page's elements by role and accessible name, in Chromium's
// accessibility tree, and acting on them as a person would.

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

// node returns the element's node id as the page is now: found again when
// the element can be, else the one it had.
func (e *el) node() cdp.BackendNodeID {
	if e.find != nil {
		if id, ok := e.find(); ok {
			return id
		}
	}
	return e.id
}

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
	// in finds the element inside root as the page is now.
	in := func() ([]*el, error) {
		var id cdp.BackendNodeID
		if root != nil {
			id = root.id
			if root.find != nil {
				var ok bool
				if id, ok = root.find(); !ok {
					return nil, fmt.Errorf("%v is gone", root)
				}
			}
		}
		return p.queryOnce(id, role, name)
	}
	var found []*el
	if err := p.wait(func() bool {
		var err error
		found, err = in()
		return err == nil && len(found) == 1
	}); err != nil {
		p.t.Fatalf("gave up waiting for one %s named %q (%d found): %v\nthe page: %s", role, name, len(found), err,
			eval[string](p, `document.body.outerHTML`))
	}
	if root != nil && root.find != nil {
		// Inside an element found again (a table's row), this one is
		// found again too.
		found[0].find = func() (cdp.BackendNodeID, bool) {
			els, err := in()
			if err != nil || len(els) != 1 {
				return 0, false
			}
			return els[0].id, true
		}
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
	obj, err := chromedp.Call(e.p.ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: e.node()})
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
		id := e.node()
		if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: id}); err != nil {
			return fmt.Errorf("%v: %w", e, err)
		}
		q, err := chromedp.Call(ctx, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: id})
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
		if _, err := chromedp.Call(ctx, dom.Focus, dom.FocusParams{BackendNodeID: e.node()}); err != nil {
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
// once the table has loaded, and returns it. The row, and what is found
// inside it, are found again each time they are used, in the table as it
// is then, which may have reloaded since.
func (p *page) row(table, name string) *el {
	p.t.Helper()
	find := func() (cdp.BackendNodeID, bool) {
		// The table reloads as the test reads it: anything may be gone.
		tables, err := p.queryOnce(0, "table", table)
		if err != nil || len(tables) != 1 {
			return 0, false
		}
		// A table still loading (aria-busy) is about to change.
		id, err := nodeOn(tables[0], `function(n) {
		  if (this.getAttribute('aria-busy') === 'true') return null;
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
