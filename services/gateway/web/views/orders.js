// @ts-check
import { call } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import * as session from '../lib/session.js';
import { orderTable, pageOf, pager, signInFirst } from './parts.js';

/** @type {import('../main.js').View} */
export async function render({ root, query, signal }) {
  if (!session.current()) return show(root, h('h1', {}, 'Your orders'), signInFirst());
  const page = pageOf(query);
  const list = await call(`/api/orders?page=${page}&pageSize=20`, { signal });
  show(root, h('h1', {}, 'Your orders'), orderTable(list.items), pager(list, (n) => `#/orders?page=${n}`));
}
