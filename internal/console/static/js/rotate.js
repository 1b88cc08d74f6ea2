// Rotating a token: the dialog that asks when the old token stops
// working, and the request that replaces it (POST …/rotate).

import { h, uid } from './dom.js';
import { modal } from './dialog.js';
import { group, checkbox, radio, formErrors, submitting } from './forms.js';
import { longDate } from './format.js';

const hourMs = 60 * 60 * 1000;
// maxGraceHours is how long tokend lets an old token work on after its
// rotation: 7 days.
const maxGraceHours = 7 * 24;
const defaultGraceHours = 24;

// rotateDialog asks how to rotate the token (an apiToken resource) and
// rotates it with api. rotated(newToken, {retired, now}) gets the new
// token, string included, a sentence saying when the old one stops
// working, and whether that was at once; self says the token is the one the console is signed in with.
export function rotateDialog({ api, token, self, rotated }) {
  const name = token.attributes.description;
  const summary = h('div', { role: 'alert', class: 'alert' });
  const messageID = uid('dialog-message');

  // The grace window ends no later than the old token's own expiration.
  const hoursLeft = Math.floor((new Date(token.attributes.expiration) - Date.now()) / hourMs);
  const maxHours = Math.max(0, Math.min(maxGraceHours, hoursLeft));
  const radioGroup = uid('retire');
  const now = radio(radioGroup, 'Now', { value: 'now', checked: true });
  const later = radio(radioGroup, 'After a grace period', { value: 'later' });
  now.el.classList.add('choice');
  later.el.classList.add('choice');
  const hours = h('input', {
    type: 'number', id: uid('hours'), min: '1', max: String(maxHours), step: '1', inputmode: 'numeric', disabled: true,
  });
  hours.value = String(Math.min(defaultGraceHours, maxHours));
  const firstUse = checkbox('Or at the new token\'s first use, if that comes sooner', { disabled: true });
  firstUse.el.classList.add('choice');
  const graceHint = h('p', { class: 'hint', id: uid('hint') }, maxHours > 0
    ? `At most ${maxHours} hours: ${maxHours === maxGraceHours ? 'tokend keeps an old token working for 7 days at most' : 'the old token expires by then anyway'}.`
    : 'The old token expires within the hour: it can only be retired now.');
  const grace = h('div', { class: 'field inline' }, h('label', { for: hours.id }, 'Grace period (hours)'), hours);
  if (maxHours === 0) later.input.disabled = true;

  const when = group('The old token stops working', [
    now.el, later.el, h('div', { class: 'grace' }, grace, graceHint, firstUse.el),
  ], null, [now.input, later.input, hours]);
  hours.setAttribute('aria-describedby', `${graceHint.id} ${when.errorEl.id}`);
  const graceField = { el: grace, control: hours, errorEl: when.errorEl, invalid: [hours] };
  const sync = () => {
    const on = later.input.checked;
    hours.disabled = !on;
    firstUse.input.disabled = !on;
  };
  now.input.addEventListener('change', sync);
  later.input.addEventListener('change', sync);

  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Rotate');
  const form = h('form', { novalidate: true },
    summary, when.el,
    self ? h('p', { class: 'note' }, 'You are signed in with this token. Once it stops working, the console signs you out: sign in again with the new one.') : null,
    h('div', { class: 'actions' }, cancel, submit));
  const { close } = modal({
    title: `Rotate “${name}”?`,
    describedBy: messageID,
    content: [h('p', { id: messageID }, 'tokend replaces it with a new token with the same description, scopes and restrictions, shown once. Anything that uses the old token must then be given the new one.'), form],
    first: now.input,
    className: 'confirm rotate',
  });
  cancel.addEventListener('click', () => close('cancel'));

  const errors = formErrors(summary, {
    previousExpiration: graceField, retirePreviousOnFirstUse: { ...graceField, control: firstUse.input, invalid: [firstUse.input] },
  }, 'The token was not rotated');
  submitting(form, submit, errors, async () => {
    const attributes = {};
    let retiresAt = null;
    if (later.input.checked) {
      const n = Number(hours.value);
      // tokend says what is wrong with a value that is not a number of
      // hours; an empty field is sent as such.
      retiresAt = hours.value !== '' && Number.isFinite(n) ? new Date(Date.now() + n * hourMs) : null;
      const exp = new Date(token.attributes.expiration);
      if (retiresAt && retiresAt > exp) retiresAt = exp;
      attributes.previousExpiration = retiresAt ? retiresAt.toISOString() : hours.value;
      attributes.retirePreviousOnFirstUse = firstUse.input.checked;
    }
    const path = `/users/${encodeURIComponent(token.relationships.user.data.id)}/api-tokens/${encodeURIComponent(token.id)}/rotate`;
    const doc = await api.request('POST', path, { data: { type: 'apiTokenRotation', attributes } });
    close('rotated');
    const atOnce = !later.input.checked;
    rotated(doc.data, { retired: retirement(atOnce ? null : retiresAt, firstUse.input.checked), now: atOnce });
  });
}

// retirement says when the old token of a rotation stops working.
function retirement(retiresAt, firstUse) {
  if (!retiresAt) return 'The old token no longer works.';
  const at = `The old token works until ${longDate.format(retiresAt)}`;
  return firstUse ? `${at}, or until the new one is first used.` : `${at}.`;
}
