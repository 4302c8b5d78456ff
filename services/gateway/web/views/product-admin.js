// @ts-check
/** Admin: create a product, and edit one (name, description, price, category, active). */
import { call, send } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { form } from '../lib/form.js';
import { fractionDigits, majorUnits, minorUnits } from '../lib/format.js';
import { notify } from '../lib/notice.js';


/**
 * The typed price in minor units of its currency, or an error the form shows.
 * @param {Record<string, string>} values @param {string} currency
 */
function priceOf(values, currency) {
  const amount = minorUnits(values['price'] ?? '', currency);
  if (amount !== undefined) return amount;
  const digits = fractionDigits(currency);
  throw new Error(digits === 0 ? `A price in ${currency} is a whole number, e.g. 1250` : `A price in ${currency} is a number with at most ${digits === 1 ? 'one decimal' : `${digits} decimals`}, e.g. ${majorUnits(1250 * 10 ** Math.max(0, digits - 2), currency)}`);
}

/** The typed ISO 4217 code, upper case, or an error the form shows. @param {Record<string, string>} values */
function currencyOf(values) {
  const currency = (values['currency'] ?? '').trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new Error('The currency is a three-letter ISO 4217 code, e.g. EUR');
  return currency;
}

/** @param {AbortSignal} signal @returns {Promise<Array<{ slug: string, name: string }>>} */
async function categories(signal) {
  return (await call('/api/catalog/categories', { signal })).items;
}

/** @param {Array<{ slug: string, name: string }>} list @param {string} [selected] */
function categorySelect(list, selected) {
  return h('select', { name: 'category', required: true }, list.map((c) => h('option', { value: c.slug, selected: c.slug === selected }, c.name)));
}

/** @param {string} label @param {HTMLElement} input */
function field(label, input) {
  return h('label', {}, h('span', {}, label), input);
}

/**
 * The edit form of a product page; `If-Match` carries the version shown, so a change
 * made meanwhile by someone else is refused (412) rather than overwritten.
 * @param {import('./parts.js').Product} product @param {AbortSignal} signal @param {() => Promise<void>} redraw
 */
export async function editForm(product, signal, redraw) {
  const list = await categories(signal);
  const edit = form(
    { class: 'checkout' },
    async (values) => {
      const amount = priceOf(values, product.price.currency);
      await send(`/api/catalog/products/${product.id}`, {
        method: 'PATCH',
        headers: { 'if-match': `W/"${product.id}-${product.version}"` },
        body: { name: values['name'], description: values['description'] ?? '', price: { amount, currency: product.price.currency }, category: values['category'], active: values['active'] === 'on' },
      });
      await redraw();
      notify('Product saved.');
    },
    field('Name', h('input', { name: 'name', required: true, maxlength: 200, value: product.name })),
    field('Description', h('textarea', { name: 'description', maxlength: 5000, rows: 3 }, product.description)),
    field(`Price (${product.price.currency})`, h('input', { name: 'price', required: true, inputmode: 'decimal', value: majorUnits(product.price.amount, product.price.currency) })),
    field('Category', categorySelect(list, product.category)),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'active', checked: product.active }), ' On sale (unchecked: deactivated, hidden from the shop)'),
    h('button', { type: 'submit' }, 'Save'),
  );
  return h('section', { class: 'admin-box' }, h('h2', {}, 'Edit product'), edit);
}

/**
 * `#/admin/products/new`: a product with its SKU, price, category and first stock.
 * @type {import('../main.js').View}
 */
export async function render({ root, signal }) {
  const list = await categories(signal);
  const create = form(
    { class: 'checkout' },
    async (values) => {
      const product = await call('/api/catalog/products', {
        method: 'POST',
        body: {
          sku: (values['sku'] ?? '').trim().toUpperCase(),
          name: values['name'],
          description: values['description'] ?? '',
          price: { amount: priceOf(values, currencyOf(values)), currency: currencyOf(values) },
          category: values['category'],
          onHand: Number(values['onHand'] ?? 0),
        },
      });
      location.hash = `#/products/${product.id}`;
    },
    field('SKU', h('input', { name: 'sku', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9\\-]{1,63}', placeholder: 'BOO-100' })),
    field('Name', h('input', { name: 'name', required: true, maxlength: 200 })),
    field('Description', h('textarea', { name: 'description', maxlength: 5000, rows: 3 })),
    field('Price', h('input', { name: 'price', required: true, inputmode: 'decimal', placeholder: '12.50' })),
    field('Currency (ISO 4217)', h('input', { name: 'currency', required: true, pattern: '[A-Za-z]{3}', maxlength: 3, value: 'EUR', autocomplete: 'off' })),
    field('Category', categorySelect(list)),
    field('Stock on hand', h('input', { name: 'onHand', type: 'number', min: 0, max: 1_000_000_000, value: 0, required: true })),
    h('button', { type: 'submit' }, 'Create product'),
  );
  show(root, h('h1', {}, 'New product'), create);
}
