// @ts-check
/**
 * The storefront: one page, views chosen by the URL's hash (`#/products/…`),
 * each drawn from the gateway's API. No framework and no build step: these
 * modules are what the browser runs (ADR 0021).
 */
import * as cart from './lib/cart.js';
import { h, show } from './lib/dom.js';
import * as session from './lib/session.js';
import { ApiError, call, signOut } from './lib/api.js';
import { clearNotice, describe } from './lib/notice.js';

/**
 * A view draws itself into `root`; `signal` aborts when the customer leaves it.
 * @typedef {{ root: HTMLElement, params: string[], query: URLSearchParams, signal: AbortSignal }} ViewContext
 * @typedef {(context: ViewContext) => Promise<void>} View
 */

/** @type {Array<[RegExp, () => Promise<{ render: View }>]>} */
const routes = [
  [/^\/$/, () => import('./views/home.js')],
  [/^\/products$/, () => import('./views/products.js')],
  [/^\/products\/([0-9a-f-]{36})$/, () => import('./views/product.js')],
  [/^\/cart$/, () => import('./views/cart.js')],
  [/^\/checkout$/, () => import('./views/checkout.js')],
  [/^\/orders$/, () => import('./views/orders.js')],
  [/^\/orders\/([0-9a-f-]{36})$/, () => import('./views/order.js')],
  [/^\/inbox$/, () => import('./views/inbox.js')],
  [/^\/(signin|register)$/, () => import('./views/account.js')],
  [/^\/admin$/, () => import('./views/admin.js')],
  [/^\/admin\/products\/new$/, () => import('./views/product-admin.js')],
];

const root = /** @type {HTMLElement} */ (document.getElementById('view'));
/** @type {AbortController | undefined} */
let leaving;

async function route() {
  leaving?.abort();
  const controller = new AbortController();
  leaving = controller;
  const [path = '/', queryString = ''] = (location.hash.slice(1) || '/').split('?');
  const query = new URLSearchParams(queryString);
  const search = document.querySelector('#search input');
  if (search instanceof HTMLInputElement) search.value = query.get('q') ?? '';
  clearNotice();
  void countUnread();
  for (const [pattern, load] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    try {
      const view = await load();
      await view.render({ root, params: match.slice(1), query, signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) {
        // The access token was refused and could not be renewed: the session is over.
        show(root, h('h1', {}, 'Please sign in again'), h('p', {}, 'Your session has ended. ', h('a', { href: `#/signin?next=${encodeURIComponent(path)}` }, 'Sign in'), ' to go on.'));
        return;
      }
      show(root, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, describe(error)));
    }
    return;
  }
  show(root, h('h1', {}, 'Not found'), h('p', {}, 'Nothing lives at this address. ', h('a', { href: '#/' }, 'Back to the shop')));
}

/** Unread messages of the signed-in customer, as last counted. */
let unread = 0;

/** Count the unread messages again (on each page change) and redraw the menu if it changed. */
async function countUnread() {
  const before = unread;
  try {
    unread = session.current() ? (await call('/api/notifications?unread=true&pageSize=1')).total : 0;
  } catch {
    unread = 0; // notifications down or signed out meanwhile: no badge rather than an error
  }
  if (unread !== before) drawNav();
}

function drawNav() {
  const signedIn = session.current();
  const inCart = cart.count();
  show(
    /** @type {HTMLElement} */ (document.getElementById('nav')),
    h('a', { href: '#/products' }, 'Shop'),
    signedIn && h('a', { href: '#/orders' }, 'Orders'),
    signedIn && h('a', { href: '#/inbox' }, 'Inbox', unread > 0 && h('span', { class: 'badge', 'data-testid': 'unread-count', title: 'unread' }, unread)),
    session.isAdmin() && h('a', { href: '#/admin' }, 'Operations'),
    h('a', { href: '#/cart', class: 'cart-link' }, 'Cart', inCart > 0 && h('span', { class: 'badge', 'data-testid': 'cart-count' }, inCart)),
    signedIn
      ? h('span', { class: 'who' }, h('span', { class: 'muted' }, signedIn.user.name), ' ', h('button', { type: 'button', class: 'link', onclick: () => void signOut().then(() => (location.hash = '#/')) }, 'Sign out'))
      : h('a', { href: '#/signin' }, 'Sign in'),
  );
}

document.getElementById('search')?.addEventListener('submit', (event) => {
  event.preventDefault();
  const q = String(new FormData(/** @type {HTMLFormElement} */ (event.target)).get('q') ?? '').trim();
  location.hash = q ? `#/products?q=${encodeURIComponent(q)}` : '#/products';
});

session.onChange(drawNav);
cart.onChange(drawNav);
addEventListener('hashchange', () => void route());
addEventListener('bazaar:inbox-read', () => void countUnread());
drawNav();
void route();
