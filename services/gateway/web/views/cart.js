// @ts-check
import { call } from '../lib/api.js';
import * as cart from '../lib/cart.js';
import { h, show } from '../lib/dom.js';
import { money } from '../lib/format.js';
import { image } from './parts.js';

/**
 * The cart at today's prices (the catalog's), with what is no longer sold dropped.
 * @type {import('../main.js').View}
 */
export async function render(context) {
  const { root, signal } = context;
  const lines = cart.lines();
  if (lines.length === 0) {
    show(root, h('h1', {}, 'Your cart'), h('p', {}, 'The cart is empty. ', h('a', { href: '#/products' }, 'Find something')));
    return;
  }
  const priced = await priceLines(lines, signal);
  const redraw = () => void render(context);
  const total = priced.reduce((sum, line) => sum + line.product.price.amount * line.quantity, 0);
  const currency = priced[0]?.product.price.currency ?? 'EUR';
  show(
    root,
    h('h1', {}, 'Your cart'),
    h(
      'table',
      { class: 'cart' },
      h('tbody', {}, priced.map(({ product, quantity }) =>
        h(
          'tr',
          { 'data-product': product.id },
          h('td', { class: 'thumb' }, image(product)),
          h('td', {}, h('a', { href: `#/products/${product.id}` }, product.name), quantity > product.available && h('p', { class: 'stock low' }, `Only ${product.available} available`)),
          h('td', {}, h('input', { type: 'number', min: 0, max: cart.MAX_QUANTITY, value: quantity, 'aria-label': `Quantity of ${product.name}`, onchange: (event) => (cart.set(product.id, Number(/** @type {HTMLInputElement} */ (event.target).value)), redraw()) })),
          h('td', { class: 'num' }, money({ amount: product.price.amount * quantity, currency: product.price.currency })),
          h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => (cart.set(product.id, 0), redraw()) }, 'Remove')),
        ),
      )),
      h('tfoot', {}, h('tr', {}, h('td', { colspan: 3 }, 'Total'), h('td', { class: 'num', 'data-testid': 'cart-total' }, money({ amount: total, currency })), h('td', {}))),
    ),
    h('p', { class: 'actions' }, h('a', { class: 'button', href: '#/checkout' }, 'Check out')),
  );
}

/**
 * The cart's lines with their products; lines whose product is gone are removed from the cart.
 * @param {import('../lib/cart.js').CartLine[]} lines
 * @param {AbortSignal} signal
 * @returns {Promise<Array<{ product: import('./parts.js').Product, quantity: number }>>}
 */
export async function priceLines(lines, signal) {
  const found = await call(`/api/catalog/products?ids=${lines.map((l) => l.productId).join(',')}`, { signal });
  /** @type {Map<string, import('./parts.js').Product>} */
  const products = new Map(found.items.map((/** @type {import('./parts.js').Product} */ p) => [p.id, p]));
  for (const line of lines) if (!products.has(line.productId)) cart.set(line.productId, 0);
  return lines.flatMap((line) => {
    const product = products.get(line.productId);
    return product ? [{ product, quantity: line.quantity }] : [];
  });
}
