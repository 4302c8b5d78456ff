// @ts-check
import { call } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { orderTable, productCard } from './parts.js';

/**
 * The home page, in one call to the gateway's storefront aggregation: what a
 * service that is down could not give is left out, and said so.
 * @type {import('../main.js').View}
 */
export async function render({ root, signal }) {
  const home = await call('/api/storefront/home', { signal });
  if (home.partial) notify(`Part of the store is unavailable right now (${home.missing.map((/** @type {{ service: string, code: string }} */ m) => `${m.service}: ${m.code}`).join(', ')}); the rest works.`, 'error');
  show(
    root,
    h('section', { class: 'hero' }, h('h1', {}, 'Welcome to Bazaar'), h('p', { class: 'muted' }, 'Books, electronics, home and office — paid, shipped and tracked by six services.')),
    home.categories &&
      h(
        'nav',
        { class: 'chips', 'aria-label': 'Categories' },
        home.categories.map((/** @type {{ slug: string, name: string }} */ c) => h('a', { class: 'chip', href: `#/products?category=${encodeURIComponent(c.slug)}` }, c.name)),
      ),
    h('h2', {}, 'Featured'),
    home.featured ? h('div', { class: 'grid' }, home.featured.map(productCard)) : h('p', { class: 'muted' }, 'Products cannot be shown right now.'),
    session.current() &&
      h('section', {}, h('h2', {}, 'Your recent orders'), home.recentOrders ? orderTable(home.recentOrders) : h('p', { class: 'muted' }, 'Your orders cannot be shown right now.')),
  );
}
