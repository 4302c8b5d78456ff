// @ts-check
import * as session from './session.js';

/** @typedef {{ type?: string, title: string, status: number, code: string, detail?: string, requestId?: string, errors?: { path: string, message: string }[] }} Problem */

/** A refused or failed call, with the problem document the service answered. */
export class ApiError extends Error {
  /** @param {Problem} problem */
  constructor(problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
  }
}

/**
 * @typedef {object} CallOptions
 * @property {string} [method]
 * @property {unknown} [body]
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 */

/**
 * A call to the gateway. JSON in and out; the access token is attached when
 * someone is signed in and renewed once with the refresh token when it has
 * expired; any answer that is not 2xx throws an ApiError carrying its problem.
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<any>}
 */
export async function call(path, options = {}) {
  const response = await send(path, options);
  if (response.status === 204) return undefined;
  return response.json();
}

/**
 * The raw response of a successful call (for streams).
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<Response>}
 */
export async function send(path, options = {}) {
  let response = await attempt(path, options);
  if (response.status === 401 && current()?.refreshToken && (await renew())) response = await attempt(path, options);
  if (!response.ok) throw new ApiError(await problemOf(response));
  return response;
}

function current() {
  return session.current();
}

/** @param {string} path @param {CallOptions} options */
async function attempt(path, { method = 'GET', body, headers = {}, signal }) {
  /** @type {Record<string, string>} */
  const sent = { accept: 'application/json', ...headers };
  const token = current()?.accessToken;
  if (token) sent['authorization'] = `Bearer ${token}`;
  if (body !== undefined) sent['content-type'] = 'application/json';
  try {
    return await fetch(path, { method, headers: sent, body: body === undefined ? null : JSON.stringify(body), ...(signal ? { signal } : {}) });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError({ title: 'The store cannot be reached', status: 0, code: 'NETWORK_ERROR', detail: 'The store cannot be reached; check the connection and try again.' });
  }
}

/** @param {Response} response @returns {Promise<Problem>} */
async function problemOf(response) {
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      const body = await response.json();
      if (body && typeof body.code === 'string') return body;
    } catch {
      // not a problem document: described below
    }
  }
  return { title: response.statusText || 'Request failed', status: response.status, code: `HTTP_${response.status}` };
}

/** @type {Promise<boolean> | undefined} */
let renewing;

/** One refresh at a time: concurrent calls that all found the token expired share it. */
function renew() {
  renewing ??= refresh().finally(() => (renewing = undefined));
  return renewing;
}

async function refresh() {
  const signedIn = current();
  if (!signedIn) return false;
  try {
    const response = await fetch('/api/identity/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ refreshToken: signedIn.refreshToken }),
    });
    if (!response.ok) {
      // Expired, revoked, or reused elsewhere (the family is revoked): sign out.
      if (response.status === 401) session.save(undefined, { refused: true });
      return false;
    }
    const tokens = await response.json();
    session.save({ ...signedIn, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken });
    return true;
  } catch {
    return false;
  }
}

/** Sign in: tokens, then who that is. @param {string} email @param {string} password */
export async function signIn(email, password) {
  const tokens = await call('/api/identity/login', { method: 'POST', body: { email, password } });
  const user = await fetch('/api/identity/me', { headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' } });
  if (!user.ok) throw new ApiError(await problemOf(user));
  const { id, email: address, name, roles } = await user.json();
  session.save({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, user: { id, email: address, name, roles } });
}

/** Sign out: the refresh token's family is revoked, then forgotten here whatever the answer. */
export async function signOut() {
  const signedIn = current();
  session.save(undefined);
  if (!signedIn) return;
  try {
    await fetch('/api/identity/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: signedIn.refreshToken }) });
  } catch {
    // Offline: the refresh token expires on its own.
  }
}
