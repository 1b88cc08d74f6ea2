// Form fields with their labels, hints and error messages, and the
// mapping of the API's errors onto them by source.pointer.

import { h, uid, focus, replace } from './dom.js';
import { ApiError, describe, field as fieldOf } from './api.js';

// describedBy adds ids to an element's aria-describedby.
function describedBy(el, ...ids) {
  const have = (el.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  el.setAttribute('aria-describedby', [...new Set([...have, ...ids.filter(Boolean)])].join(' '));
}

// field returns a control with its label, an optional hint, and a slot for
// its error, all tied to the control for assistive technology.
export function field(label, control, hint) {
  if (!control.id) control.id = uid('field');
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  const errorEl = h('p', { class: 'field-error', id: uid('error'), hidden: true });
  describedBy(control, hintEl && hintEl.id, errorEl.id);
  const el = h('div', { class: 'field' }, h('label', { for: control.id }, label), hintEl, control, errorEl);
  return { el, control, errorEl, invalid: [control] };
}

// group returns a fieldset of controls under a legend, with an optional
// hint and a slot for an error about them all.
export function group(legend, children, hint, controls = []) {
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  const errorEl = h('p', { class: 'field-error', id: uid('error'), hidden: true });
  const el = h('fieldset', {}, h('legend', {}, legend), hintEl, children, errorEl);
  describedBy(el, hintEl && hintEl.id, errorEl.id);
  return { el, control: controls[0] || el, errorEl, invalid: controls };
}

// checkbox returns a checkbox with its label after it.
export function checkbox(label, props = {}) {
  return choice('checkbox', label, props);
}

// radio returns a radio button of the group name with its label after it.
export function radio(name, label, props = {}) {
  return choice('radio', label, { name, ...props });
}

function choice(type, label, props) {
  const input = h('input', { type, id: uid(type), ...props });
  return { el: h('div', { class: 'check' }, input, h('label', { for: input.id }, label)), input };
}

// formErrors shows an API error on a form: each error object whose
// source.pointer names one of fields' attributes under that field, the
// rest in summary (a role="alert" element), which also says how many
// problems there are. The first field at fault gets the focus.
export function formErrors(summary, fields, failed) {
  function clear() {
    summary.replaceChildren();
    for (const f of Object.values(fields)) {
      f.errorEl.hidden = true;
      f.errorEl.replaceChildren();
      for (const c of f.invalid) c.removeAttribute('aria-invalid');
    }
  }
  function show(err) {
    clear();
    if (!(err instanceof ApiError)) {
      summary.replaceChildren(h('p', {}, `${failed}: ${describe(err)}`));
      return;
    }
    const general = [];
    const atFields = [];
    let problems = 0;
    for (const e of err.errors) {
      const f = fields[fieldOf(e)];
      if (!f) {
        general.push(e);
        continue;
      }
      f.errorEl.append(h('span', {}, e.detail || e.title), ' ');
      f.errorEl.hidden = false;
      for (const c of f.invalid) c.setAttribute('aria-invalid', 'true');
      if (!atFields.includes(f)) atFields.push(f);
      problems += 1;
    }
    const lines = [];
    if (general.length > 0) lines.push(`${failed}: ${describe(new ApiError(err.status, general))}`);
    if (problems > 0) {
      const see = problems === 1 ? 'see the problem marked below.' : `see the ${problems} problems marked below.`;
      lines.push(general.length > 0 ? `Also ${see}` : `${failed}: ${see}`);
    }
    summary.replaceChildren(...lines.map((l) => h('p', {}, l)));
    if (atFields.length > 0) focus(atFields[0].control);
  }
  return { show, clear };
}

// opener makes the button open a form in slot: make(close) returns the
// form ({el, focus}), and close(refocus = true) removes it and gives the
// focus back to the button. While the form is open the button moves the
// focus into it.
export function opener(button, slot, make) {
  const close = (refocus = true) => {
    slot.replaceChildren();
    button.setAttribute('aria-expanded', 'false');
    if (refocus) focus(button);
  };
  button.setAttribute('aria-expanded', 'false');
  button.addEventListener('click', () => {
    if (slot.firstChild) {
      slot.querySelector('input')?.focus();
      return;
    }
    const form = make(close);
    replace(slot, form.el);
    button.setAttribute('aria-expanded', 'true');
    form.focus();
  });
}

// submitting handles the form's submission in the page (a form never
// submits itself: the CSP forbids it): send() runs with the button
// disabled, and what it throws is shown by errors.
export function submitting(form, button, errors, send) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await send();
      errors.clear();
    } catch (err) {
      errors.show(err);
    } finally {
      button.disabled = false;
    }
  });
}
