// Who is signed in. The session lives in this module's memory only, so a
// reload or a new tab asks for the token again, and signing out forgets it.

import { Api } from './api.js';

let current = null;

// claims returns the claims of a PASETO v2.public token, read without
// checking its signature (tokend checks it on every request): the payload
// is base64url(claims JSON || 64-byte Ed25519 signature). It throws when
// the string is not such a token.
export function claims(token) {
  const parts = token.split('.');
  if (parts.length < 3 || parts.length > 4 || parts[0] !== 'v2' || parts[1] !== 'public') {
    throw new Error('This is not a tokend token: tokend tokens start with "v2.public.".');
  }
  let bytes;
  try {
    const b64 = parts[2].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    throw new Error('The token is damaged: its payload is not base64url.');
  }
  let c;
  try {
    c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, bytes.length - 64)));
  } catch {
    throw new Error('The token is damaged: its claims are not JSON.');
  }
  if (!c || typeof c.sub !== 'string' || c.sub === '') {
    throw new Error('The token names no user (its "sub" claim is missing).');
  }
  return c;
}

// start signs in: the user's resource, read with the token, and the api
// that calls tokend with it.
export function start(api, tokenClaims, user) {
  current = { api, claims: tokenClaims, user };
  return current;
}

// newApi returns an Api for the token; onUnauthorized runs on any 401.
export function newApi(token, onUnauthorized) {
  return new Api(token, onUnauthorized);
}

// get returns the session, or null when nobody is signed in.
export function get() {
  return current;
}

// end forgets the token and everything read with it.
export function end() {
  current = null;
}

// isAdmin reports whether the signed-in user is an admin.
export function isAdmin() {
  return current !== null && current.user.attributes.role === 'admin';
}
