// The console's shell: the header, the messages, and which page the part
// of the URL after "#" shows. Only the page's route is ever in the URL;
// the token never is.

import { h, focus, replace } from './dom.js';
import { describe } from './api.js';
import * as session from './session.js';
import { signInPage } from './signin.js';
import { tokensPage } from './tokens.js';
import { usersPage } from './users.js';
import { auditPage } from './audit.js';

// routes map the URL's fragment to pages: page(ctx, ...captures). admin
// pages are for admins only. A new page is one entry here and, when it
// has a link, one in nav.
const routes = [
  { pattern: /^\/tokens$/, page: (ctx) => tokensPage(ctx, ctx.session.user.id) },
  { pattern: /^\/users$/, admin: true, page: usersPage },
  { pattern: /^\/users\/([^/]+)\/tokens$/, admin: true, page: (ctx, id) => tokensPage(ctx, decodeURIComponent(id)) },
  { pattern: /^\/audit$/, page: auditPage },
];

// nav is the header's links.
const nav = [
  { href: '#/tokens', label: 'Tokens' },
  { href: '#/users', label: 'Users', admin: true },
  { href: '#/audit', label: 'Audit' },
];

const home = '#/tokens';
const top = document.getElementById('top');
const main = document.getElementById('main');
const alertRegion = h('div', { role: 'alert', class: 'alert', id: 'alert' });
const statusRegion = h('div', { role: 'status', class: 'status', id: 'status' });
const content = h('div', { id: 'content' });
replace(main, alertRegion, statusRegion, content);

function alert(text) {
  statusRegion.replaceChildren();
  alertRegion.replaceChildren(h('p', {}, text));
}

function announce(text) {
  alertRegion.replaceChildren();
  statusRegion.replaceChildren(h('p', {}, text));
}

function clearMessages() {
  alertRegion.replaceChildren();
  statusRegion.replaceChildren();
}

// unauthorized ends the session when tokend refuses its token (revoked,
// expired, its user disabled…) and asks for a token again.
function unauthorized(err, api) {
  const s = session.get();
  if (!s || s.api !== api) return; // a sign-in attempt, or an old session
  session.end();
  render();
  alert(`You have been signed out. ${describe(err)} Sign in again with a valid token.`);
}

// endSession signs out: the token is forgotten.
function endSession() {
  session.end();
  render();
  announce('Signed out. The token is forgotten.');
}

function header() {
  const s = session.get();
  const brand = h('p', { class: 'brand' }, 'tokend');
  if (!s) {
    replace(top, brand);
    return;
  }
  const here = location.hash || home;
  const links = nav.filter((n) => !n.admin || session.isAdmin()).map((n) => h('li', {},
    h('a', { href: n.href, 'aria-current': here === n.href || here.startsWith(`${n.href}/`) ? 'page' : null }, n.label)));
  const signOut = h('button', { type: 'button', class: 'button small' }, 'Sign out');
  signOut.addEventListener('click', endSession);
  replace(top, brand,
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, links)),
    h('div', { class: 'who' },
      h('p', {}, 'Signed in as ', h('strong', { class: 'email' }, s.user.attributes.email), ` (${s.user.attributes.role})`),
      signOut));
}

// show puts a page in place of the previous one, and moves the focus to
// its heading, as a new page load would.
function show(page, heading) {
  replace(content, page);
  focus(heading);
}

function render() {
  // A dialog left open by the page before (its session ended under it)
  // goes with it.
  for (const d of document.querySelectorAll('dialog[open]')) d.close('cancel');
  header();
  clearMessages();
  const s = session.get();
  if (!s) {
    const page = signInPage({
      signedIn: (api, claims, user) => {
        session.start(api, claims, user);
        if (!location.hash) history.replaceState(null, '', home);
        render();
      },
      alert,
      onUnauthorized: unauthorized,
    });
    show(page.el, page.heading);
    focus(page.input);
    return;
  }
  const path = (location.hash || home).slice(1);
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m || (r.admin && !session.isAdmin())) continue;
    // A page still loading when its session ends shows nothing more.
    const live = (fn) => (...args) => { if (session.get() === s) fn(...args); };
    const ctx = {
      session: s, api: s.api, show: live(show), alert: live(alert), announce: live(announce), signOut: live(endSession),
    };
    r.page(ctx, ...m.slice(1)).catch((err) => alert(describe(err)));
    return;
  }
  history.replaceState(null, '', home);
  render();
}

window.addEventListener('hashchange', render);
render();
