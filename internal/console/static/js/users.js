// Users, for admins: the list, New user, disabling and enabling, and the
// way to each user's tokens.

import { h, focus } from './dom.js';
import { when } from './format.js';
import { describe } from './api.js';
import { confirm } from './dialog.js';
import { pagedTable, actionsCell } from './table.js';
import { field, checkbox, formErrors, opener, submitting } from './forms.js';

const pageSize = 25;

// rowActions are the buttons of each user's row, as in tokens.js.
const rowActions = [
  {
    label: 'Disable',
    class: 'button danger small',
    // tokend lets no admin disable itself.
    available: (u, view) => !u.attributes.disabled && u.id !== view.ctx.session.user.id,
    run: (view, u) => setDisabled(view, u, true),
  },
  {
    label: 'Enable',
    class: 'button small',
    available: (u) => u.attributes.disabled,
    run: (view, u) => setDisabled(view, u, false),
  },
];

async function setDisabled(view, user, disabled) {
  const email = user.attributes.email;
  if (disabled) {
    const ok = await confirm({
      title: 'Disable this user?',
      message: `${email} and every token of theirs stop working at once, until the user is enabled again.`,
      confirmLabel: 'Disable',
    });
    if (!ok) return;
  }
  try {
    await view.ctx.api.update(`/users/${encodeURIComponent(user.id)}`, 'user', user.id, { disabled });
  } catch (err) {
    view.ctx.alert(describe(err));
    return;
  }
  await view.table.reload();
  view.ctx.announce(`${email} ${disabled ? 'disabled' : 'enabled'}.`);
  focus(view.table.table);
}

const columns = (view) => [
  {
    title: 'Email',
    rowHeader: true,
    cell: (u) => h('a', { href: `#/users/${encodeURIComponent(u.id)}/tokens`, title: `Tokens of ${u.attributes.email}` }, u.attributes.email),
  },
  { title: 'Role', cell: (u) => u.attributes.role },
  { title: 'Kind', cell: (u) => (u.attributes.service ? 'Service' : 'Person') },
  { title: 'Status', cell: (u) => h('span', { class: `badge ${u.attributes.disabled ? 'status-disabled' : 'status-active'}` }, u.attributes.disabled ? 'disabled' : 'enabled') },
  { title: 'Created', cell: (u) => when(h, u.attributes.createdAt) },
  { title: 'Actions', cell: actionsCell(rowActions, view) },
];

// userForm returns the New user form; created(user) gets the new user.
function userForm({ api, created, cancelled }) {
  const summary = h('div', { role: 'alert', class: 'alert' });
  const email = field('Email', h('input', { type: 'email', autocomplete: 'off', spellcheck: 'false' }));
  const role = field('Role', h('select', {}, h('option', { value: 'member' }, 'Member'), h('option', { value: 'admin' }, 'Admin')),
    'Admins manage users and everyone\'s tokens; members only their own tokens.');
  const service = checkbox('Service (non-interactive)');
  const serviceField = { el: service.el, control: service.input, errorEl: h('p', { class: 'field-error', hidden: true }), invalid: [service.input] };
  const heading = h('h2', { id: 'new-user-heading' }, 'New user');
  const create = h('button', { type: 'submit', class: 'button primary' }, 'Create');
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': heading.id },
    heading, summary, email.el, role.el, h('div', { class: 'field' }, service.el, serviceField.errorEl),
    h('p', { class: 'hint' }, 'A service user stands for a program, not a person: its tokens are for machines.'),
    h('div', { class: 'actions' }, create, h('button', { type: 'button', class: 'button', onclick: () => cancelled() }, 'Cancel')));
  const errors = formErrors(summary, { email, role, service: serviceField }, 'The user was not created');
  submitting(form, create, errors, async () => {
    const doc = await api.create('/users', 'user', {
      email: email.control.value.trim(), role: role.control.value, service: service.input.checked,
    });
    await created(doc.data);
  });
  return { el: form, focus: () => focus(email.control) };
}

// usersPage shows every user, for admins.
export async function usersPage(ctx) {
  const heading = h('h1', {}, 'Users');
  const newButton = h('button', { type: 'button', class: 'button primary' }, 'New user');
  const formSlot = h('div');
  const view = { ctx };
  view.table = pagedTable({ ctx, caption: 'Users', columns: columns(view), empty: 'No users to show.' });
  opener(newButton, formSlot, (close) => userForm({
    api: ctx.api,
    created: async (user) => {
      close(false);
      await view.table.reload();
      ctx.announce(`User ${user.attributes.email} created.`);
      focus(newButton);
    },
    cancelled: close,
  }));
  ctx.show(h('section', { class: 'page' }, h('div', { class: 'page-head' }, heading, newButton), formSlot, view.table.el), heading);
  await view.table.show(`/users?page%5Blimit%5D=${pageSize}`);
}
