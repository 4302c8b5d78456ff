// @ts-check
import { ApiError, call, send } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { dateTime, money, time } from '../lib/format.js';
import { describe, notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { readEvents } from '../lib/sse.js';
import { traceConsole, traceOfOrder } from '../lib/traces.js';
import { signInFirst, statusBadge } from './parts.js';

/** @typedef {{ id: string, status: string, items: { productId: string, name: string, quantity: number, unitPrice: import('../lib/format.js').Money, lineTotal: import('../lib/format.js').Money }[], total: import('../lib/format.js').Money, shippingAddress: Record<string, string>, payment: { brand: string, last4: string }, reason?: string, code?: string, trackingNumber?: string, placedAt: string, updatedAt: string, timeline: { at: string, event: string, detail?: string }[] }} OrderView */

/**
 * One order, live: drawn from its event stream (the order now, then each
 * change) until it is confirmed or cancelled. When the stream breaks while the
 * order is pending (orders restarting, the network), it is opened again with
 * backoff: the page follows the checkout through a service killed in the middle.
 * An admin also sees the checkout saga behind it, step by step.
 * @type {import('../main.js').View}
 */
export async function render({ root, params, signal }) {
  if (!session.current()) return show(root, h('h1', {}, 'Order'), signInFirst());
  const id = /** @type {string} */ (params[0]);
  /** @type {OrderView} */
  let order = await call(`/api/orders/${id}`, { signal });
  /** @type {string | undefined} */
  let interrupted;
  const draw = async () => show(root, ...(await orderParts(order, signal, interrupted)));
  await draw();
  for (let attempt = 0; order.status === 'PENDING' && !signal.aborted; attempt++) {
    try {
      // The stream's first event is the order now: what changed while it was down shows at once.
      const stream = await send(`/api/orders/${id}/events`, { headers: { accept: 'text/event-stream' }, signal });
      if (!stream.body) return;
      for await (const event of readEvents(stream.body)) {
        if (event.event !== 'order') continue;
        order = JSON.parse(event.data);
        interrupted = undefined;
        attempt = 0;
        await draw();
      }
      if (order.status !== 'PENDING') return;
      interrupted = 'the order’s updates stopped';
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
        notify(`Live updates stopped: ${describe(error)}.`, 'error');
        return;
      }
      interrupted = describe(error);
    }
    await draw();
    await pause(Math.min(5_000, 500 * 2 ** Math.min(attempt, 4)), signal);
  }
}

/** @param {number} ms @param {AbortSignal} signal */
function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve(undefined)), { once: true });
  });
}

/** @param {OrderView} order @param {AbortSignal} signal @param {string} [interrupted] why live updates are reconnecting */
async function orderParts(order, signal, interrupted) {
  return [
    h('p', {}, h('a', { href: '#/orders' }, '← Your orders')),
    // Announced to screen readers as it changes.
    h('h1', { 'aria-live': 'polite' }, `Order ${order.id.slice(0, 8)} `, statusBadge(order.status)),
    order.status === 'PENDING' && !interrupted && h('p', { class: 'muted live' }, 'Checking out: stock, payment, shipment… this page updates by itself.'),
    order.status === 'PENDING' && interrupted && h('p', { class: 'notice error', 'data-testid': 'reconnecting' }, `Reconnecting to live updates (${interrupted})… the checkout goes on meanwhile.`),
    order.reason && h('p', { class: 'error', 'data-testid': 'reason' }, order.reason, order.code && h('span', { class: 'muted' }, ` (${order.code})`)),
    order.trackingNumber && h('p', {}, 'Tracking number ', h('code', { 'data-testid': 'tracking' }, order.trackingNumber)),
    h(
      'table',
      { class: 'lines' },
      h('tbody', {}, order.items.map((line) => h('tr', {}, h('td', {}, h('a', { href: `#/products/${line.productId}` }, line.name)), h('td', { class: 'num' }, `${line.quantity} × ${money(line.unitPrice)}`), h('td', { class: 'num' }, money(line.lineTotal))))),
      h('tfoot', {}, h('tr', {}, h('td', { colspan: 2 }, 'Total'), h('td', { class: 'num' }, money(order.total)))),
    ),
    h(
      'p',
      { class: 'muted' },
      `Placed ${dateTime(order.placedAt)} · ship to ${order.shippingAddress['name']}, ${order.shippingAddress['city']} (${order.shippingAddress['country']}) · ${order.payment.brand} •••• ${order.payment.last4}`,
    ),
    order.status === 'PENDING' && h('button', { type: 'button', class: 'secondary', onclick: () => void cancel(order.id) }, 'Cancel order'),
    await traceLink(order.id),
    h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline', 'data-testid': 'timeline' }, order.timeline.map((entry) => h('li', {}, h('time', { datetime: entry.at }, time(entry.at)), ' ', h('strong', {}, entry.event), entry.detail && ` — ${entry.detail}`))),
    session.isAdmin() && (await sagaPart(order.id, signal)),
  ];
}

/**
 * The checkout's distributed trace, when this tab placed the order and traces are kept
 * somewhere to see: the gateway, every service and the saga's messages in one waterfall.
 * @param {string} orderId
 */
async function traceLink(orderId) {
  const trace = traceOfOrder(orderId);
  const where = trace && (await traceConsole());
  if (!trace || !where) return null;
  return h('p', {}, h('a', { href: `${where}/#${trace}`, target: '_blank', rel: 'noopener', 'data-testid': 'trace-link' }, 'See this checkout’s trace'), h('span', { class: 'muted' }, ' — every service and message it went through'));
}

/** @param {string} id */
async function cancel(id) {
  try {
    await call(`/api/orders/${id}/cancel`, { method: 'POST' });
    notify('Cancelling: the completed checkout steps are being undone.');
  } catch (error) {
    notify(describe(error), 'error');
  }
}

/**
 * Admin: the saga's own record — every command, reply, deadline and retry.
 * @param {string} id @param {AbortSignal} signal
 */
async function sagaPart(id, signal) {
  try {
    const saga = await call(`/api/orders/admin/sagas/${id}`, { signal });
    return h(
      'section',
      { class: 'admin-box' },
      h('h2', {}, 'Checkout saga ', h('span', { class: 'muted' }, saga.status)),
      saga.awaiting.length > 0 && h('p', {}, 'Waiting on ', saga.awaiting.join(', ')),
      h(
        'table',
        { class: 'saga', 'data-testid': 'saga' },
        h('thead', {}, h('tr', {}, h('th', {}, 'At'), h('th', {}, 'Action'), h('th', {}, 'Step'), h('th', {}, 'Detail'))),
        h('tbody', {}, saga.timeline.map((/** @type {{ at: string, action: string, step: string | null, detail: string | null }} */ e) => h('tr', {}, h('td', {}, time(e.at)), h('td', {}, e.action), h('td', {}, e.step ?? ''), h('td', {}, e.detail ?? '')))),
      ),
    );
  } catch (error) {
    if (error instanceof ApiError && error.code === 'SAGA_NOT_FOUND') return null;
    return h('p', { class: 'error' }, `The saga cannot be shown: ${describe(error)}`);
  }
}
