// @ts-check
import { call } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import * as session from '../lib/session.js';
import { pageOf, pager, productCard } from './parts.js';

const PAGE_SIZE = 12;

/**
 * Browse and search: full-text `q`, a category, pages.
 * @type {import('../main.js').View}
 */
export async function render({ root, query, signal }) {
  const q = query.get('q')?.trim() ?? '';
  const category = query.get('category') ?? '';
  const page = pageOf(query);
  const wanted = new URLSearchParams({ page: String(page), pageSize: String(PAGE_SIZE) });
  if (q) wanted.set('q', q);
  if (category) wanted.set('category', category);
  const [list, categories] = await Promise.all([call(`/api/catalog/products?${wanted}`, { signal }), call('/api/catalog/categories', { signal })]);

  /** @param {Record<string, string>} change */
  const href = (change) => {
    const next = new URLSearchParams({ ...(q ? { q } : {}), ...(category ? { category } : {}), ...change });
    for (const [key, value] of [...next]) if (!value) next.delete(key);
    return `#/products?${next}`;
  };
  const heading = q ? `Results for “${q}”` : (categories.items.find((/** @type {{ slug: string }} */ c) => c.slug === category)?.name ?? 'All products');
  show(
    root,
    h('h1', {}, heading),
    session.isAdmin() && h('p', {}, h('a', { class: 'button', href: '#/admin/products/new' }, 'New product')),
    h(
      'nav',
      { class: 'chips', 'aria-label': 'Categories' },
      h('a', { class: `chip${category ? '' : ' active'}`, href: href({ category: '', page: '' }) }, 'All'),
      categories.items.map((/** @type {{ slug: string, name: string, productCount: number }} */ c) =>
        h('a', { class: `chip${c.slug === category ? ' active' : ''}`, href: href({ category: c.slug, page: '' }) }, `${c.name} (${c.productCount})`),
      ),
    ),
    h('p', { class: 'muted', 'data-testid': 'result-count' }, `${list.total} ${list.total === 1 ? 'product' : 'products'}`),
    list.items.length > 0 ? h('div', { class: 'grid' }, list.items.map(productCard)) : h('p', {}, 'Nothing matches. Try other words, or ', h('a', { href: '#/products' }, 'browse everything'), '.'),
    pager(list, (n) => href({ page: String(n) })),
  );
}
