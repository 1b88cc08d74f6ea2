// The New token form, and the panel that shows a created token once.

import { h, uid, focus } from './dom.js';
import { field, group, checkbox, formErrors, submitting } from './forms.js';
import { words, dateInputValue, endOfDay, longDate } from './format.js';

const dayMs = 24 * 60 * 60 * 1000;
const defaultDays = 30;

// grantOf returns what the signed-in token may put in a new token of the
// user, as tokend says in the user's meta.tokenGrant: the scopes it may
// give (the user's allowed scopes, narrowed to the token's own when it
// mints for its own user or for an admin), the latest expiration, and the
// restrictions the new token must keep.
export function grantOf(user) {
  const g = (user.meta && user.meta.tokenGrant) || {};
  return {
    scopes: words(g.scope),
    max: g.maxExpiration ? new Date(g.maxExpiration) : null,
    sourceIp: g.sourceIp || '',
    resources: g.resources || null,
  };
}

// tokenForm returns the form that creates a token for the user (a user
// resource); created(token) gets the created apiToken resource.
export function tokenForm({ api, user, created, cancelled }) {
  const grant = grantOf(user);
  const summary = h('div', { role: 'alert', class: 'alert' });

  const description = field('Description',
    h('input', { type: 'text', maxlength: '255', autocomplete: 'off' }),
    'What the token is for, such as "Production deploys".');

  const checks = grant.scopes.map((s) => checkbox(s, { value: s }));
  const scopes = group('Scopes',
    checks.length > 0
      ? h('div', { class: 'checks' }, checks.map((c) => c.el))
      : h('p', {}, 'The signed-in token can give this user no scope.'),
    'The scopes offered are those the signed-in token may give this user.',
    checks.map((c) => c.input));

  // Expiration: a number of days from now or a date, kept in step; the
  // one changed last counts, and neither goes past what the signed-in
  // token may grant.
  const now = Date.now();
  const maxDays = grant.max ? Math.max(1, Math.floor((grant.max - now) / dayMs)) : null;
  const firstDays = maxDays ? Math.min(defaultDays, maxDays) : defaultDays;
  const days = h('input', { type: 'number', id: uid('days'), min: '1', max: maxDays, step: '1', inputmode: 'numeric' });
  const date = h('input', {
    type: 'date', id: uid('date'), min: dateInputValue(new Date(now)), max: grant.max && dateInputValue(grant.max),
  });
  days.value = String(firstDays);
  date.value = dateInputValue(new Date(now + firstDays * dayMs));
  let byDate = false;
  days.addEventListener('input', () => {
    byDate = false;
    const n = Number(days.value);
    if (days.value !== '' && Number.isFinite(n)) date.value = dateInputValue(new Date(Date.now() + n * dayMs));
  });
  date.addEventListener('input', () => {
    byDate = true;
    const end = endOfDay(date.value);
    if (end) days.value = String(Math.max(0, Math.ceil((end - Date.now()) / dayMs)));
  });
  const expirationAt = () => {
    let t = null;
    if (byDate) t = endOfDay(date.value);
    else if (days.value !== '' && Number.isFinite(Number(days.value))) t = new Date(Date.now() + Number(days.value) * dayMs);
    if (t && grant.max && t > grant.max) t = grant.max;
    return t;
  };
  const expiration = group('Expiration', [
    h('div', { class: 'field inline' }, h('label', { for: days.id }, 'Expires in (days)'), days),
    h('div', { class: 'field inline' }, h('label', { for: date.id }, 'Expires on'), date),
  ], grant.max
    ? `A number of days from now, or a date (the token then works to the end of that day). At most until ${longDate.format(grant.max)}, what the signed-in token may grant.`
    : 'A number of days from now, or a date (the token then works to the end of that day).',
  [days, date]);

  const sourceIp = field('Source IPs',
    h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' }),
    grant.sourceIp
      ? 'The addresses or CIDR ranges the token works from, separated by commas. The signed-in token is restricted to these, so the new one must stay within them.'
      : 'Optional: the addresses or CIDR ranges the token works from, separated by commas, such as 192.168.1.1,10.0.0.0/8.');
  sourceIp.control.value = grant.sourceIp;

  const create = h('button', { type: 'submit', class: 'button primary' }, 'Create');
  const cancel = h('button', { type: 'button', class: 'button', onclick: () => cancelled() }, 'Cancel');
  const heading = h('h2', { id: uid('new-token') }, 'New token');
  const form = h('form', { class: 'panel new-token', novalidate: true, 'aria-labelledby': heading.id },
    heading, summary, description.el, scopes.el, expiration.el, sourceIp.el,
    grant.resources ? h('p', { class: 'hint' }, 'The signed-in token is restricted to some resources; the new token is restricted to them too.') : null,
    h('div', { class: 'actions' }, create, cancel));
  const errors = formErrors(summary, { description, scope: scopes, expiration, sourceIp }, 'The token was not created');

  submitting(form, create, errors, async () => {
    const attributes = {
      description: description.control.value,
      scope: checks.filter((c) => c.input.checked).map((c) => c.input.value).join(' '),
    };
    const at = expirationAt();
    if (at) attributes.expiration = at.toISOString();
    if (sourceIp.control.value.trim() !== '') attributes.sourceIp = sourceIp.control.value.trim();
    if (grant.resources) attributes.resources = grant.resources;
    const doc = await api.create(`/users/${encodeURIComponent(user.id)}/api-tokens`, 'apiToken', attributes);
    created(doc.data);
  });

  return { el: form, focus: () => focus(description.control) };
}

// createdPanel returns the panel that shows a created token's string,
// the only time tokend gives it, with Copy and Done; done() is called
// once Done has removed the panel and the string from the page. A rotation
// shows its new token the same way, under its own title, with a sentence
// more (note).
export function createdPanel(token, done, { title = 'Token created', note = '' } = {}) {
  const heading = h('h2', { id: uid('created') }, title);
  const output = h('input', {
    type: 'text', id: uid('token'), class: 'token-output', readonly: true, spellcheck: 'false', autocomplete: 'off',
  });
  output.value = token.attributes.token;
  const status = h('p', { role: 'status', class: 'copy-status' });
  const copy = h('button', { type: 'button', class: 'button primary' }, 'Copy');
  const doneButton = h('button', { type: 'button', class: 'button' }, 'Done');
  const panel = h('section', { class: 'panel created', 'aria-labelledby': heading.id },
    heading,
    h('p', {}, `“${token.attributes.description}” is ready. Copy it now: tokend shows a token only once, and keeps only its hash.`),
    note ? h('p', {}, note) : null,
    h('div', { class: 'field' }, h('label', { for: output.id }, 'Token'), output),
    h('div', { class: 'actions' }, copy, doneButton),
    status);

  copy.addEventListener('click', async () => {
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(output.value);
        copied = true;
      } catch {
        copied = false;
      }
    }
    if (!copied) {
      // Without the Clipboard API (a page not served over HTTPS or from
      // localhost), the selection is copied the old way.
      output.focus();
      output.select();
      try {
        copied = document.execCommand('copy');
      } catch {
        copied = false;
      }
    }
    status.textContent = copied
      ? 'Copied to the clipboard.'
      : 'The token could not be copied; it is selected: copy it with your keyboard.';
  });
  doneButton.addEventListener('click', () => {
    output.value = '';
    panel.remove();
    done();
  });

  return {
    el: panel,
    focus: () => {
      focus(output);
      output.select();
    },
  };
}
