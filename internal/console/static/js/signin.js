// The sign-in page: a token, pasted, read for its user (the sub claim),
// and checked by reading that user from tokend.

import { h } from './dom.js';
import { describe } from './api.js';
import * as session from './session.js';

// signInPage returns the page. signedIn(api, claims, user) is called once
// tokend has accepted the token; alert(text) shows a failure.
export function signInPage({ signedIn, alert, onUnauthorized }) {
  // A text field, not a password field: a browser offers to keep what is
  // typed in a password field, and the token must stay in memory.
  const input = h('input', {
    type: 'text', id: 'sign-in-token', class: 'token-input', autocomplete: 'off',
    spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'sign-in-hint',
  });
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const heading = h('h1', {}, 'Sign in');
  const form = h('form', { class: 'panel sign-in', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: input.id }, 'Token'),
      h('p', { class: 'hint', id: 'sign-in-hint' },
        'Paste an API token (v2.public.…). The console keeps it in this page\'s memory only: ',
        'reloading or closing the page, or signing out, forgets it.'),
      input),
    button);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === '') {
      alert('Paste a token to sign in.');
      input.focus();
      return;
    }
    let claims;
    try {
      claims = session.claims(token);
    } catch (err) {
      alert(err.message);
      input.focus();
      return;
    }
    button.disabled = true;
    const api = session.newApi(token, onUnauthorized);
    try {
      const doc = await api.get(`/users/${encodeURIComponent(claims.sub)}`);
      input.value = '';
      signedIn(api, claims, doc.data);
    } catch (err) {
      alert(`Sign-in failed. ${describe(err)}`);
      input.focus();
    } finally {
      button.disabled = false;
    }
  });

  return { el: h('section', { class: 'page narrow' }, heading, form), heading, input };
}
