// A user's tokens: the table, New token, and each row's actions.

import { h, focus, replace } from './dom.js';
import { when, words } from './format.js';
import { describe } from './api.js';
import { confirm } from './dialog.js';
import { pagedTable, actionsCell } from './table.js';
import { opener } from './forms.js';
import { tokenForm, createdPanel } from './newtoken.js';
import { rotateDialog } from './rotate.js';

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
// (view, token). A new action is one more entry; view.showCreated shows a
// token string once, as Create does.
const rowActions = [
  {
    label: 'Rotate',
    class: 'button small',
    // tokend rotates a token that works or could again, once.
    available: (t) => (t.attributes.status === 'active' || t.attributes.status === 'disabled') && !t.attributes.rotatedTo,
    run: rotate,
  },
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

function rotate(view, token) {
  const { ctx } = view;
  const self = token.id === ctx.session.claims.jti;
  rotateDialog({
    api: ctx.api,
    token,
    self,
    rotated: async (created, { retired, now }) => {
      const name = created.attributes.description;
      if (self && now) {
        // The console's own token no longer works: what it would read
        // now is refused. Done signs out, once the new token is copied.
        view.showCreated(created, { title: 'Token rotated', note: `${retired} You are signed in with it: Done signs you out.`, done: ctx.signOut });
        ctx.announce(`Token “${name}” rotated.`);
        return;
      }
      view.showCreated(created, { title: 'Token rotated', note: retired });
      ctx.announce(`Token “${name}” rotated.`);
      await view.table.reload();
    },
  });
}

// statusCell shows a token's status, and whether it was rotated: retiring
// (still working, until its expiration) or rotated (no longer working).
function statusCell(t) {
  const { status, rotatedTo } = t.attributes;
  const badges = [h('span', { class: `badge status-${status}` }, status)];
  if (rotatedTo) {
    const working = status === 'active' || status === 'disabled';
    badges.push(' ', h('span', { class: 'badge status-rotated' }, working ? 'retiring' : 'rotated'));
  }
  return badges;
}

// recentClients shows the addresses a token was last used from, newest
// first; the user agent and time of each are in text a screen reader
// reads after the address, and in the address's tooltip.
function recentClients(t) {
  const clients = t.attributes.recentClients || [];
  if (clients.length === 0) return h('span', { class: 'muted' }, 'None');
  return h('ul', { class: 'clients' }, clients.map((c) => {
    const agent = c.userAgent || 'no user agent';
    return h('li', {},
      h('span', { class: 'ip', title: `${agent}, ${c.usedAt}` }, c.ip),
      h('span', { class: 'visually-hidden' }, `, ${agent}, last used `, when(h, c.usedAt)));
  }));
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
  { title: 'Status', cell: statusCell },
  { title: 'Expiration', cell: (t) => when(h, t.attributes.expiration) },
  {
    title: 'Last use',
    cell: (t) => (t.attributes.lastUsedAt
      ? [when(h, t.attributes.lastUsedAt), t.attributes.lastUsedIp ? ` from ${t.attributes.lastUsedIp}` : '']
      : 'Never'),
  },
  { title: 'Recent clients', cell: recentClients },
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
  // showCreated shows a new token once; Done calls done, by default
  // giving the focus back to New token.
  view.showCreated = (token, { title, note, done } = {}) => {
    const panel = createdPanel(token, done || (() => {
      ctx.announce('The token is no longer shown.');
      focus(newButton);
    }), { title, note });
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
