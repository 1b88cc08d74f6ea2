// tokend's JSON:API, as the console calls it: the same endpoints and
// documents as any other client, with the signed-in token as a Bearer
// token. The token lives in a private field of the Api object and nowhere
// else: not in storage, cookies or URLs.

export const mediaType = 'application/vnd.api+json';

// apiRoot is where tokend's API is: the parent of /console/.
const apiRoot = new URL('../', document.baseURI);

// ApiError is an error answer of the API (status and its JSON:API error
// objects) or a failure to reach it (status 0).
export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => e.detail || e.title).join(' '));
    this.name = 'ApiError';
    this.status = status;
    this.errors = errors;
  }
}

// url returns the address of an API path such as /users/1, or of a link
// the API wrote (its path and query; links name tokend's public address,
// which may differ from the one the console was loaded from).
export function url(pathOrLink) {
  if (/^https?:/.test(pathOrLink)) {
    const u = new URL(pathOrLink);
    if (u.origin === location.origin) return u.href;
    pathOrLink = u.pathname + u.search;
  }
  return new URL(pathOrLink.replace(/^\//, ''), apiRoot).href;
}

// Api calls tokend with one token. onUnauthorized(err, api) is called
// with the ApiError of any 401 answer (the token no longer works).
export class Api {
  #token;
  #onUnauthorized;

  constructor(token, onUnauthorized) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  // request sends a request and returns the answer's document (null for
  // an empty body), or throws an ApiError.
  async request(method, path, document) {
    const headers = { Accept: mediaType, Authorization: `Bearer ${this.#token}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer' };
    if (document !== undefined) {
      headers['Content-Type'] = mediaType;
      init.body = JSON.stringify(document);
    }
    let res;
    try {
      res = await fetch(url(path), init);
    } catch (e) {
      throw new ApiError(0, [{ title: 'Unreachable', detail: `tokend could not be reached (${e.message}).` }]);
    }
    const text = await res.text();
    let doc = null;
    if (text) {
      try {
        doc = JSON.parse(text);
      } catch {
        doc = null;
      }
    }
    if (res.ok) return doc;
    const errors = doc && Array.isArray(doc.errors) && doc.errors.length > 0
      ? doc.errors
      : [{ status: String(res.status), title: res.statusText, detail: `tokend answered ${res.status} ${res.statusText}.` }];
    const err = new ApiError(res.status, errors);
    if (res.status === 401 && this.#onUnauthorized) this.#onUnauthorized(err, this);
    throw err;
  }

  get(path) {
    return this.request('GET', path);
  }

  // create posts a new resource of the type with the attributes.
  create(path, type, attributes) {
    return this.request('POST', path, { data: { type, attributes } });
  }

  // update patches the resource's attributes.
  update(path, type, id, attributes) {
    return this.request('PATCH', path, { data: { type, id, attributes } });
  }

  remove(path) {
    return this.request('DELETE', path);
  }
}

// describe returns what a person is told of an error: the API's details,
// saying for a 403 what was not allowed (such as the scope the token lacks).
export function describe(err) {
  if (!(err instanceof ApiError)) return `Something went wrong in the console: ${err.message}`;
  const details = err.errors.map((e) => e.detail || e.title).join(' ');
  switch (err.status) {
    case 0: return details;
    case 401: return `tokend did not accept the token: ${details}`;
    case 403: return `Not allowed: ${details}`;
    case 404: return `Not found: ${details}`;
    case 429: return `Too many requests: ${details}`;
    default: return details;
  }
}

// field returns the attribute an error object is about, from its
// source.pointer (/data/attributes/<name>), or "".
export function field(error) {
  const m = /^\/data\/attributes\/([^/]+)/.exec((error.source && error.source.pointer) || '');
  return m ? m[1] : '';
}
