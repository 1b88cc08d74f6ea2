// The audit events: an admin whose token holds the "audit" scope sees
// everyone's (GET /audit-events), anyone else their own
// (GET /users/:id/audit-events), a page at a time, filtered by action.

import { h } from './dom.js';
import { when, toTheSecond, words } from './format.js';
import { pagedTable } from './table.js';

const pageSize = 25;

// actions are the choices of the Action filter: every action tokend
// records (SPEC §7).
const actions = [
  'apiToken.created', 'apiToken.updated', 'apiToken.rotated', 'apiToken.revoked', 'apiToken.leaked',
  'apiToken.expiring', 'apiToken.disabled', 'user.created', 'user.updated', 'key.rotated',
  'webhook.created', 'webhook.updated', 'webhook.deleted', 'webhook.disabled', 'auth.refused',
];

// value reads an old or new value of a change for a person.
function value(v) {
  if (v === null || v === undefined || v === '') return 'none';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// changes shows what an event changed, folded away: attribute, old value,
// new value.
function changes(e) {
  const c = e.attributes.changes;
  const names = c ? Object.keys(c) : [];
  if (names.length === 0) return null;
  return h('details', { class: 'changes' },
    h('summary', {}, names.length === 1 ? '1 change' : `${names.length} changes`),
    h('ul', {}, names.map((n) => h('li', {},
      h('code', {}, n), `: ${value(c[n].old)} → ${value(c[n].new)}`))));
}

const columns = (ctx) => [
  { title: 'Time', rowHeader: true, cell: (e) => when(h, e.attributes.occurredAt, '', toTheSecond) },
  { title: 'Action', cell: (e) => [h('code', { class: 'action' }, e.attributes.action), changes(e)] },
  {
    title: 'Actor',
    cell: (e) => {
      const a = e.attributes;
      // No actor: a refused authentication, or a change made on the
      // server itself (the bootstrap, the command line).
      if (!a.actorUserId) return h('span', { class: 'muted' }, 'None');
      const who = a.actorUserId === ctx.session.user.id ? 'You' : h('code', {}, a.actorUserId);
      return [who, a.actorTokenId ? h('span', { class: 'sub' }, 'token ', h('code', {}, a.actorTokenId)) : null];
    },
  },
  {
    title: 'Target',
    cell: (e) => [e.attributes.targetType, e.attributes.targetId ? h('span', { class: 'sub' }, h('code', {}, e.attributes.targetId)) : null],
  },
  {
    title: 'Source IP',
    cell: (e) => {
      const a = e.attributes;
      if (!a.sourceIp) return h('span', { class: 'muted' }, 'None');
      const agent = a.userAgent || 'no user agent';
      return [h('span', { class: 'ip', title: agent }, a.sourceIp), h('span', { class: 'visually-hidden' }, `, ${agent}`)];
    },
  },
];

// auditPage shows the audit events the signed-in token may read.
export async function auditPage(ctx) {
  const everyone = ctx.session.user.attributes.role === 'admin' && words(ctx.session.claims.scope).includes('audit');
  const heading = h('h1', {}, everyone ? 'Audit events' : 'Your audit events');
  const filter = h('select', { id: 'action-filter' },
    h('option', { value: '' }, 'All actions'),
    actions.map((a) => h('option', { value: a }, a)));
  const base = everyone ? '/audit-events' : `/users/${encodeURIComponent(ctx.session.user.id)}/audit-events`;
  const listPath = () => {
    const q = new URLSearchParams({ 'page[limit]': String(pageSize), sort: '-occurredAt' });
    if (filter.value) q.set('filter[action]', filter.value);
    return `${base}?${q}`;
  };
  const table = pagedTable({ ctx, caption: 'Audit events', columns: columns(ctx), empty: 'No events to show.' });
  filter.addEventListener('change', () => table.show(listPath()));
  ctx.show(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, heading),
    h('p', { class: 'hint' }, everyone
      ? 'Everything that changed in tokend, and every refused authentication, newest first.'
      : 'What was done to your tokens and your user, and by whom, newest first.'),
    h('div', { class: 'toolbar' }, h('label', { for: filter.id }, 'Action'), filter),
    table.el), heading);
  await table.show(listPath());
}
