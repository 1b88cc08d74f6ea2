// A table of a JSON:API collection, one row per resource, a page at a
// time, moving between pages by the document's links.prev and links.next.
// Token, user and (later) audit-event lists are all this table with their
// own columns.

import { h, focus } from './dom.js';
import { describe } from './api.js';

// pagedTable returns the table and its pager. columns are {title, cell,
// rowHeader}: cell(resource) returns the cell's content, and the column
// whose rowHeader is true names each row. Pages are read with ctx.api;
// failures are shown with ctx.alert. empty is the text shown when a page
// has no resources.
export function pagedTable({ ctx, caption, columns, empty }) {
  const tbody = h('tbody');
  const table = h('table', { class: 'data', tabindex: '-1' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.title)))),
    tbody);
  const emptyNote = h('p', { class: 'empty', hidden: true }, empty);
  const info = h('p', { class: 'page-info' });
  const prev = h('button', { type: 'button', class: 'button' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'button' }, 'Next page');
  const pager = h('nav', { class: 'pager', 'aria-label': `${caption}, pages` }, prev, info, next);
  let links = {};
  let current = null;
  let generation = 0;
  // offset is the place of the page's first row in the whole list, and
  // shown its number of rows: a page read by cursor (page[after],
  // page[before]) has no offset in its meta, so it is counted from the
  // page before.
  let offset = 0;
  let shown = 0;

  function render(doc, move) {
    const rows = (doc.data || []).map((res) => h('tr', {},
      columns.map((c) => (c.rowHeader ? h('th', { scope: 'row' }, c.cell(res)) : h('td', {}, c.cell(res))))));
    tbody.replaceChildren(...rows);
    emptyNote.hidden = rows.length > 0;
    links = doc.links || {};
    prev.disabled = !links.prev;
    next.disabled = !links.next;
    const p = (doc.meta && doc.meta.pagination) || {};
    if (typeof p.offset === 'number') offset = p.offset;
    else if (move > 0) offset += shown;
    else if (move < 0) offset = Math.max(0, offset - rows.length);
    shown = rows.length;
    const total = p.total ?? rows.length;
    info.textContent = rows.length > 0 ? `${offset + 1}–${offset + rows.length} of ${total}` : `none of ${total}`;
    pager.hidden = !links.prev && !links.next;
  }

  // show loads the page at path and shows it (move says whether it is the
  // page after the one shown, 1, or before it, -1); a later call wins over
  // an earlier one still loading.
  async function show(path, move = 0) {
    const mine = ++generation;
    table.setAttribute('aria-busy', 'true');
    try {
      const doc = await ctx.api.get(path);
      if (mine !== generation) return;
      current = path;
      render(doc, move);
    } catch (err) {
      if (mine === generation) ctx.alert(describe(err));
    } finally {
      if (mine === generation) table.removeAttribute('aria-busy');
    }
  }

  async function move(path, direction) {
    await show(path, direction);
    // A pager button disabled on the last page loses the focus.
    if (document.activeElement === document.body || document.activeElement.disabled) focus(table);
  }
  prev.addEventListener('click', () => move(links.prev, -1));
  next.addEventListener('click', () => move(links.next, 1));

  return {
    el: h('div', { class: 'table-wrap' }, table, emptyNote, pager),
    table,
    show,
    reload: () => show(current),
  };
}

// actionsCell returns a column's cell function: a button for each of the
// actions the row's resource offers. An action is {label, class,
// available(resource, view), run(view, resource)}.
export function actionsCell(actions, view) {
  return (res) => h('div', { class: 'row-actions' }, actions.filter((a) => a.available(res, view)).map((a) => h('button', {
    type: 'button', class: a.class, onclick: () => a.run(view, res),
  }, a.label)));
}
