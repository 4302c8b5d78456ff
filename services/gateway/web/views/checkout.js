// @ts-check
import { call, send } from '../lib/api.js';
import * as cart from '../lib/cart.js';
import { h, show } from '../lib/dom.js';
import { form } from '../lib/form.js';
import { money } from '../lib/format.js';
import { describe, notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { rememberTrace, traceOf } from '../lib/traces.js';
import { priceLines } from './cart.js';
import { signInFirst } from './parts.js';

/** The payment service's test cards (a simulated processor: no real card is ever charged). */
export const TEST_CARDS = [
  ['4242424242424242', 'approved'],
  ['4000000000000002', 'declined'],
  ['4000000000009995', 'declined: insufficient funds'],
  ['4000000000000119', 'fails once, then approved on retry'],
  ['4000000000000259', 'approved slowly'],
];

/**
 * Where to ship and how to pay, then the order is placed and the customer
 * watches its checkout. One Idempotency-Key per checkout page: pressing
 * "Place order" again after a lost answer cannot place a second order.
 * @type {import('../main.js').View}
 */
export async function render({ root, signal }) {
  const signedIn = session.current();
  if (!signedIn) return show(root, h('h1', {}, 'Checkout'), signInFirst());
  const lines = cart.lines();
  if (lines.length === 0) return show(root, h('h1', {}, 'Checkout'), h('p', {}, 'The cart is empty. ', h('a', { href: '#/products' }, 'Find something')));
  /** @type {[Awaited<ReturnType<typeof priceLines>>, { addresses: Address[] }]} */
  const [priced, me] = await Promise.all([priceLines(lines, signal), call('/api/identity/me', { signal })]);
  const saved = me.addresses[0];
  const total = priced.reduce((sum, line) => sum + line.product.price.amount * line.quantity, 0);
  const idempotencyKey = crypto.randomUUID();
  const year = new Date().getFullYear();

  const checkout = form(
    { class: 'checkout' },
    async (values) => {
      const answer = await send('/api/orders', {
        method: 'POST',
        headers: { 'idempotency-key': idempotencyKey },
        body: {
          items: priced.map(({ product, quantity }) => ({ productId: product.id, quantity })),
          shippingAddress: { name: values['name'], line1: values['line1'], city: values['city'], postalCode: values['postalCode'], country: (values['country'] ?? '').toUpperCase() },
          payment: { cardNumber: (values['cardNumber'] ?? '').replaceAll(' ', ''), expMonth: Number(values['expMonth']), expYear: Number(values['expYear']), cvc: values['cvc'] },
        },
      });
      const placed = await answer.json();
      const trace = traceOf(answer);
      if (trace) rememberTrace(placed.id, trace);
      cart.clear();
      location.hash = `#/orders/${placed.id}`;
      if (values['remember'] === 'on') void rememberAddress(values, me.addresses);
    },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Ship to'),
      me.addresses.length > 0 &&
        h(
          'label',
          {},
          h('span', {}, 'Saved addresses'),
          h(
            'select',
            { name: 'saved', onchange: (event) => fill(checkout, me.addresses[Number(/** @type {HTMLSelectElement} */ (event.target).value)]) },
            me.addresses.map((address, i) => h('option', { value: i }, `${address.label ? `${address.label}: ` : ''}${address.name}, ${address.line1}, ${address.city} (${address.country})`)),
          ),
        ),
      field('Name', { name: 'name', required: true, maxlength: 100, value: saved?.name ?? signedIn.user.name, autocomplete: 'name' }),
      field('Address', { name: 'line1', required: true, maxlength: 200, value: saved?.line1, autocomplete: 'address-line1' }),
      field('City', { name: 'city', required: true, maxlength: 100, value: saved?.city, autocomplete: 'address-level2' }),
      field('Postal code', { name: 'postalCode', required: true, maxlength: 20, value: saved?.postalCode, autocomplete: 'postal-code' }),
      field('Country (2 letters)', { name: 'country', required: true, minlength: 2, maxlength: 2, pattern: '[A-Za-z]{2}', value: saved?.country ?? 'DE', autocomplete: 'country' }),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'remember', checked: me.addresses.length === 0 }), ' Save this address to my account'),
      h('p', { class: 'muted small' }, 'The simulated carrier does not ship to AQ (Antarctica): try it to watch the checkout compensate.'),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Pay with'),
      field('Card number', { name: 'cardNumber', required: true, inputmode: 'numeric', autocomplete: 'cc-number', value: '4242424242424242', list: 'test-cards' }),
      h('datalist', { id: 'test-cards' }, TEST_CARDS.map(([number, label]) => h('option', { value: number }, label))),
      h(
        'div',
        { class: 'row' },
        field('Month', { name: 'expMonth', type: 'number', min: 1, max: 12, required: true, value: 12, autocomplete: 'cc-exp-month' }),
        field('Year', { name: 'expYear', type: 'number', min: year, max: year + 20, required: true, value: year + 2, autocomplete: 'cc-exp-year' }),
        field('CVC', { name: 'cvc', required: true, pattern: '[0-9]{3,4}', value: '123', autocomplete: 'cc-csc' }),
      ),
      h('details', {}, h('summary', {}, 'Test cards'), h('ul', {}, TEST_CARDS.map(([number, label]) => h('li', {}, h('code', {}, number), ' — ', label)))),
    ),
    h('button', { type: 'submit' }, `Place order — ${money({ amount: total, currency: priced[0]?.product.price.currency ?? 'EUR' })}`),
  );
  show(root, h('h1', {}, 'Checkout'), h('p', {}, `${priced.length} ${priced.length === 1 ? 'product' : 'products'}; prices are fixed when the order is placed.`), checkout);
}

/** @typedef {{ id: string, label?: string, name: string, line1: string, city: string, postalCode: string, country: string }} Address */

/** Put a saved address in the form's fields. @param {HTMLFormElement} form @param {Address | undefined} address */
function fill(form, address) {
  if (!address) return;
  for (const name of /** @type {const} */ (['name', 'line1', 'city', 'postalCode', 'country'])) {
    const input = form.elements.namedItem(name);
    if (input instanceof HTMLInputElement) input.value = address[name];
  }
}

/**
 * Keep the address the order went to, unless it is saved already; the order is placed
 * whatever happens here (an account holds a limited number of addresses).
 * @param {Record<string, string>} values @param {Address[]} addresses the account's, as the page loaded them
 */
async function rememberAddress(values, addresses) {
  const address = { name: values['name'], line1: values['line1'], city: values['city'], postalCode: values['postalCode'], country: (values['country'] ?? '').toUpperCase() };
  try {
    const known = addresses.some((a) => a.name === address.name && a.line1 === address.line1 && a.city === address.city && a.postalCode === address.postalCode && a.country === address.country);
    if (!known) await call('/api/identity/me/addresses', { method: 'POST', body: address });
  } catch (error) {
    notify(`The order is placed; the address was not saved: ${describe(error)}`, 'error');
  }
}

/** @param {string} label @param {import('../lib/dom.js').Attributes} attributes */
function field(label, attributes) {
  return h('label', {}, h('span', {}, label), h('input', { type: 'text', ...attributes }));
}
