// @ts-check
/**
 * Who is signed in, kept in this tab's sessionStorage: the tokens live as long
 * as the tab, are not sent with any request the page does not make itself (no
 * cookie, so no CSRF), and the page's CSP admits no script but its own. The
 * access token is short-lived; the refresh token rotates on every use.
 */

/** @typedef {{ id: string, email: string, name: string, roles: string[] }} User */
/** @typedef {{ accessToken: string, refreshToken: string, user: User }} Session */

const KEY = 'bazaar.session';
/** @type {Set<() => void>} */
const listeners = new Set();

/** @returns {Session | undefined} */
export function current() {
  try {
    const stored = sessionStorage.getItem(KEY);
    return stored ? /** @type {Session} */ (JSON.parse(stored)) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the last session ended because the identity service refused to renew it (not a sign-out). */
let ended = false;

/** @param {Session | undefined} session @param {{ refused?: boolean }} [how] `refused`: identity would not renew it */
export function save(session, how = {}) {
  ended = !session && how.refused === true;
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  for (const listener of listeners) listener();
}

export function endedByRefusal() {
  return ended;
}

/** @param {() => void} listener */
export function onChange(listener) {
  listeners.add(listener);
}

export function isAdmin() {
  return current()?.user.roles.includes('admin') ?? false;
}
