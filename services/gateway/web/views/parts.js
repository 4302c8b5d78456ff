// @ts-check
/** Pieces several views draw. */
import { h } from '../lib/dom.js';
import { dateTime, money } from '../lib/format.js';
import * as session from '../lib/session.js';

/** @typedef {{ id: string, sku: string, name: string, description: string, price: import('../lib/format.js').Money, category: string, images: string[], active: boolean, available: number, onHand: number, reserved: number, version: number }} Product */
/** @typedef {{ id: string, status: 'PENDING' | 'CONFIRMED' | 'CANCELLED', total: import('../lib/format.js').Money, itemCount: number, placedAt: string }} OrderSummary */

/** @param {Product} product */
export function productCard(product) {
  return h(
    'article',
    { class: 'card product', 'data-product': product.id },
    h('a', { href: `#/products/${product.id}` }, image(product), h('h3', {}, product.name)),
    h('p', { class: 'price' }, money(product.price)),
    availability(product.available),
  );
}

/** @param {Product} product */
export function image(product) {
  const source = product.images[0];
  return source ? h('img', { src: source, alt: '', loading: 'lazy', width: 320, height: 240 }) : h('div', { class: 'no-image' });
}

/** @param {number} available */
export function availability(available) {
  if (available <= 0) return h('p', { class: 'stock out' }, 'Out of stock');
  if (available <= 3) return h('p', { class: 'stock low' }, `Only ${available} left`);
  return h('p', { class: 'stock' }, 'In stock');
}

/** @param {string} status */
export function statusBadge(status) {
  return h('span', { class: `status ${status.toLowerCase()}`, 'data-testid': 'status' }, status);
}

/** @param {OrderSummary[]} orders */
export function orderTable(orders) {
  if (orders.length === 0) return h('p', { class: 'muted' }, 'No orders yet.');
  return h(
    'table',
    { class: 'orders' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Placed'), h('th', {}, 'Order'), h('th', {}, 'Items'), h('th', { class: 'num' }, 'Total'), h('th', {}, 'Status'))),
    h(
      'tbody',
      {},
      orders.map((order) =>
        h(
          'tr',
          {},
          h('td', {}, dateTime(order.placedAt)),
          h('td', {}, h('a', { href: `#/orders/${order.id}` }, order.id.slice(0, 8))),
          h('td', {}, order.itemCount),
          h('td', { class: 'num' }, money(order.total)),
          h('td', {}, statusBadge(order.status)),
        ),
      ),
    ),
  );
}

/** Pages of a list: previous and next links that keep the rest of the query. @param {{ page: number, pageSize: number, total: number }} list @param {(page: number) => string} href */
export function pager(list, href) {
  const pages = Math.max(1, Math.ceil(list.total / list.pageSize));
  if (pages === 1) return null;
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    list.page > 1 ? h('a', { href: href(list.page - 1), rel: 'prev' }, '← Previous') : h('span', {}),
    h('span', { class: 'muted' }, `Page ${list.page} of ${pages}`),
    list.page < pages ? h('a', { href: href(list.page + 1), rel: 'next' }, 'Next →') : h('span', {}),
  );
}

/** Where to go when signing in is needed first (again, when the session has just ended). */
export function signInFirst() {
  const link = h('a', { href: `#/signin?next=${encodeURIComponent(location.hash.slice(1))}` }, 'Sign in');
  return session.endedByRefusal() ? h('p', {}, 'Your session has ended. ', link, ' again to see this page.') : h('p', {}, link, ' to see this page.');
}
