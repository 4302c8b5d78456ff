// @ts-check
import { call } from '../lib/api.js';
import * as cart from '../lib/cart.js';
import { h, show } from '../lib/dom.js';
import { form } from '../lib/form.js';
import { money } from '../lib/format.js';
import { notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { availability, image } from './parts.js';
import { editForm } from './product-admin.js';

/**
 * One product: add it to the cart; an admin also adjusts its stock here.
 * @type {import('../main.js').View}
 */
export async function render(context) {
  const { root, params, signal } = context;
  /** @type {import('./parts.js').Product} */
  const product = await call(`/api/catalog/products/${params[0]}`, { signal });
  const quantity = h('input', { type: 'number', name: 'quantity', min: 1, max: Math.max(1, Math.min(cart.MAX_QUANTITY, product.available)), value: 1, required: true, 'aria-label': 'Quantity' });
  const buy = form(
    { class: 'buy' },
    ({ quantity: units = '1' }) => {
      cart.add(product.id, Number(units));
      notify(`${units} × ${product.name} added to the cart.`);
    },
    quantity,
    h('button', { type: 'submit', disabled: product.available <= 0 || !product.active }, 'Add to cart'),
  );
  show(
    root,
    h('p', {}, h('a', { href: `#/products?category=${encodeURIComponent(product.category)}` }, '← ', product.category)),
    h(
      'article',
      { class: 'detail' },
      image(product),
      h('div', {}, h('h1', {}, product.name), h('p', { class: 'price large' }, money(product.price)), product.active ? availability(product.available) : h('p', { class: 'stock out', 'data-testid': 'off-sale' }, 'No longer sold'), h('p', {}, product.description), buy, h('p', { class: 'muted small' }, `SKU ${product.sku}`)),
    ),
    session.isAdmin() && stockForm(product, () => render(context)),
    session.isAdmin() && (await editForm(product, signal, () => render(context))),
  );
}

/**
 * Admin: add or remove units on hand (never below what is reserved: the catalog refuses).
 * @param {import('./parts.js').Product} product
 * @param {() => Promise<void>} redraw
 */
function stockForm(product, redraw) {
  return h(
    'section',
    { class: 'admin-box' },
    h('h2', {}, 'Stock'),
    h('p', { 'data-testid': 'stock' }, `On hand ${product.onHand}, reserved ${product.reserved}, available ${product.available}.`),
    form(
      { class: 'inline' },
      async ({ delta, reason }) => {
        await call(`/api/catalog/products/${product.id}/stock-adjustments`, { method: 'POST', body: { delta: Number(delta), reason } });
        await redraw();
        notify('Stock adjusted.');
      },
      h('label', {}, 'Change ', h('input', { type: 'number', name: 'delta', required: true, step: 1, 'aria-label': 'Units to add or remove' })),
      h('label', {}, 'Reason ', h('input', { type: 'text', name: 'reason', required: true, maxlength: 200, value: 'restock' })),
      h('button', { type: 'submit' }, 'Adjust'),
    ),
  );
}
