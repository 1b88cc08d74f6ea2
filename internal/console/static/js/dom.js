// Building the page: elements from plain data, never from HTML strings, so
// nothing the API returns is ever parsed as markup; and no inline style,
// which the console's Content-Security-Policy forbids: looks are classes.

let lastID = 0;

// uid returns an id unique in the page, for labels and descriptions.
export function uid(prefix) {
  lastID += 1;
  return `${prefix}-${lastID}`;
}

// h returns a new element. props are attributes (true is an empty one,
// false, null and undefined none), except "class" and the "on…" event
// handlers; children are nodes or strings (text, never markup), and
// arrays of them.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value == null) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child);
    else if (child != null && child !== false) el.append(child);
  }
}

// replace puts the children in place of the element's content.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// focus moves the keyboard focus to the element, making a heading or a
// region focusable by script (not by Tab) when it is not already.
export function focus(el) {
  if (!el || !el.isConnected) return;
  if (el.tabIndex < 0 && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  el.focus();
}
