// A user's tokens: the table, New token, and each row's actions.

import { h, focus, replace } from './dom.js';
import { when, words } from './format.js';
import { describe } from './api.js';
import { confirm } from './dialog.js';
import { pagedTable, actionsCell } from './table.js';
import { opener } from './forms.js';
import { tokenForm, createdPanel } from './newtoken.js';

const pageSize = 25;

// statusFilters are the choices of the Status filter; tokend leaves
// revoked tokens out unless filter[status] asks for them.
const statusFilters = [
  ['', 'All but revoked'],
  ['active', 'Active'],
  ['disabled', 'Disabled'],
  ['expired', 'Expired'],
  ['revoked', 'Revoked'],
  ['active,disabled,expired,revoked', 'All'],
];

// rowActions are the buttons of each token's row, in order: label, when
// a token offers it (available(token, view)), and what it does with
// (view, token). A new action,
// such as Rotate, is one more entry; view.showCreated shows a token
// string once, as Create does.
const rowActions = [
  {
    label: 'Revoke',
    class: 'button danger small',
    available: (t) => t.attributes.status !== 'revoked',
    run: revoke,
  },
];

async function revoke(view, token) {
  const name = token.attributes.description;
  const ok = await confirm({
    title: 'Revoke this token?',
    message: `“${name}” stops working at once, for good. Anything that uses it will be refused.`,
    confirmLabel: 'Revoke',
  });
  if (!ok) return;
  try {
    await view.ctx.api.remove(`/users/${encodeURIComponent(token.relationships.user.data.id)}/api-tokens/${encodeURIComponent(token.id)}`);
  } catch (err) {
    view.ctx.alert(describe(err));
    return;
  }
  await view.table.reload();
  view.ctx.announce(`Token “${name}” revoked.`);
  focus(view.table.table);
}

// shownScopes is how many scopes a row lists before it folds the rest
// away behind "n more".
const shownScopes = 6;

function scopeList(scopes) {
  const list = (items) => h('ul', { class: 'scopes' }, items.map((s) => h('li', {}, s)));
  if (scopes.length <= shownScopes + 1) return list(scopes);
  return [
    list(scopes.slice(0, shownScopes)),
    h('details', { class: 'more-scopes' },
      h('summary', {}, `${scopes.length - shownScopes} more scopes`),
      list(scopes.slice(shownScopes))),
  ];
}

const columns = (view) => [
  { title: 'Description', rowHeader: true, cell: (t) => t.attributes.description },
  { title: 'Scopes', cell: (t) => scopeList(words(t.attributes.scope)) },
  { title: 'Status', cell: (t) => h('span', { class: `badge status-${t.attributes.status}` }, t.attributes.status) },
  { title: 'Expiration', cell: (t) => when(h, t.attributes.expiration) },
  {
    title: 'Last use',
    cell: (t) => (t.attributes.lastUsedAt
      ? [when(h, t.attributes.lastUsedAt), t.attributes.lastUsedIp ? ` from ${t.attributes.lastUsedIp}` : '']
      : 'Never'),
  },
  { title: 'Actions', cell: actionsCell(rowActions, view) },
];

// tokensPage shows the tokens of the user with the id: the signed-in
// user's own, or, for an admin, anyone's.
export async function tokensPage(ctx, userID) {
  const own = userID === ctx.session.user.id;
  const heading = h('h1', {}, own ? 'Your tokens' : 'Tokens');
  const newButton = h('button', { type: 'button', class: 'button primary' }, 'New token');
  const createdSlot = h('div');
  const formSlot = h('div');
  const filter = h('select', { id: 'status-filter' }, statusFilters.map(([value, label]) => h('option', { value }, label)));
  const base = `/users/${encodeURIComponent(userID)}/api-tokens`;
  const view = { ctx };
  const listPath = () => {
    const q = new URLSearchParams({ 'page[limit]': String(pageSize), sort: '-createdAt' });
    if (filter.value) q.set('filter[status]', filter.value);
    return `${base}?${q}`;
  };
  view.table = pagedTable({ ctx, caption: 'Tokens', columns: columns(view), empty: 'No tokens to show.' });
  view.showCreated = (token) => {
    const panel = createdPanel(token, () => {
      ctx.announce('The token is no longer shown.');
      focus(newButton);
    });
    replace(createdSlot, panel.el);
    panel.focus();
  };
  filter.addEventListener('change', () => view.table.show(listPath()));

  const page = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, heading, newButton),
    createdSlot, formSlot,
    h('div', { class: 'toolbar' }, h('label', { for: filter.id }, 'Status'), filter),
    view.table.el);
  ctx.show(page, heading);

  let user = ctx.session.user;
  try {
    // Read again for what the signed-in token may grant now.
    user = (await ctx.api.get(`/users/${encodeURIComponent(userID)}`)).data;
  } catch (err) {
    ctx.alert(describe(err));
    if (!own) return;
  }
  if (!own) {
    heading.textContent = `Tokens of ${user.attributes.email}`;
    page.prepend(h('p', { class: 'crumbs' }, h('a', { href: '#/users' }, 'All users'), ' › ', user.attributes.email));
  }

  opener(newButton, formSlot, (close) => tokenForm({
    api: ctx.api,
    user,
    created: (token) => {
      close(false);
      ctx.announce(`Token “${token.attributes.description}” created.`);
      view.showCreated(token);
      view.table.show(listPath());
    },
    cancelled: close,
  }));

  await view.table.show(listPath());
}
