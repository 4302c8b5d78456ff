// @ts-check
/** Pieces several views draw. */
import { h } from '../lib/dom.js';
import { dateTime, money } from '../lib/format.js';
import * as session from '../lib/session.js';

/** @typedef {{ id: string, sku: string, name: string, description: string, price: import('../lib/format.js').Money, category: string, images: string[], active: boolean, available: number, onHand: number, reserved: number, version: number }} Product */
/** @typedef {{ id: string, status: 'PENDING' | 'CONFIRMED' | 'CANCELLED', total: import('../lib/format.js').Money, itemCount: number, placedAt: string, customerId?: string }} OrderSummary */

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

/**
 * Orders as a table, newest first as given; with their customer for an admin.
 * @param {OrderSummary[]} orders
 * @param {{ withCustomer?: boolean, caption?: string, testId?: string }} [options] a caption keeps the table even when empty
 */
export function orderTable(orders, { withCustomer = false, caption = '', testId = '' } = {}) {
  if (orders.length === 0 && !caption) return h('p', { class: 'muted' }, 'No orders yet.');
  return h(
    'table',
    { class: 'orders', 'data-testid': testId || null },
    caption && h('caption', { class: 'muted' }, caption),
    h('thead', {}, h('tr', {}, h('th', {}, 'Placed'), h('th', {}, 'Order'), withCustomer && h('th', {}, 'Customer'), h('th', { class: 'num' }, 'Items'), h('th', { class: 'num' }, 'Total'), h('th', {}, 'Status'))),
    h(
      'tbody',
      {},
      orders.map((order) =>
        h(
          'tr',
          {},
          h('td', {}, dateTime(order.placedAt)),
          h('td', {}, h('a', { href: `#/orders/${order.id}` }, order.id.slice(0, 8))),
          withCustomer && h('td', { class: 'small' }, h('code', {}, (order.customerId ?? '').slice(0, 8))),
          h('td', { class: 'num' }, order.itemCount),
          h('td', { class: 'num' }, money(order.total)),
          h('td', {}, statusBadge(order.status)),
        ),
      ),
    ),
  );
}

/** The page a list's address asks for (`page=`): 1 when absent or not a page number. @param {URLSearchParams} query */
export function pageOf(query) {
  return Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1);
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
