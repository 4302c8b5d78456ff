// @ts-check
/**
 * Links from what a customer did to its distributed trace: the gateway names the
 * trace of each answer in `traceresponse` (W3C Trace Context Level 2) when the
 * system records traces, and its index says where they can be seen (the local
 * trace console under `npm start`).
 */

const KEY = 'bazaar.traces';
const KEPT = 50;
const TRACERESPONSE = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id an answer names, if any. @param {Response} response */
export function traceOf(response) {
  return TRACERESPONSE.exec(response.headers.get('traceresponse') ?? '')?.[1];
}

/** @returns {Record<string, string>} */
function stored() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '{}');
  } catch {
    return {};
  }
}

/** Remember which trace placed an order (the last few, in this tab). @param {string} orderId @param {string} traceId */
export function rememberTrace(orderId, traceId) {
  const entries = Object.entries(stored()).filter(([id]) => id !== orderId).slice(-(KEPT - 1));
  sessionStorage.setItem(KEY, JSON.stringify(Object.fromEntries([...entries, [orderId, traceId]])));
}

/** @param {string} orderId */
export function traceOfOrder(orderId) {
  return stored()[orderId];
}

/** @type {Promise<string | undefined> | undefined} */
let console_;

/** Where traces can be seen, as the gateway's index says; undefined when nowhere. */
export function traceConsole() {
  console_ ??= fetch('/', { headers: { accept: 'application/json' } })
    .then((response) => (response.ok ? response.json() : {}))
    .then((/** @type {{ traces?: unknown }} */ index) => (typeof index.traces === 'string' && /^https?:\/\//.test(index.traces) ? index.traces : undefined))
    .catch(() => undefined);
  return console_;
}
