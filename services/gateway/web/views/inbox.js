// @ts-check
import { call } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { describe, notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { pageOf, pager, signInFirst } from './parts.js';

/**
 * What notifications sent the customer: one message per order confirmed or
 * cancelled, shipment dispatched, refund issued.
 * @type {import('../main.js').View}
 */
export async function render(context) {
  const { root, query, signal } = context;
  if (!session.current()) return show(root, h('h1', {}, 'Inbox'), signInFirst());
  const page = pageOf(query);
  const list = await call(`/api/notifications?page=${page}&pageSize=20`, { signal });
  show(
    root,
    h('h1', {}, 'Inbox'),
    list.items.length === 0 && h('p', { class: 'muted' }, 'Nothing yet: messages about your orders arrive here.'),
    h(
      'ul',
      { class: 'inbox' },
      list.items.map((/** @type {{ id: string, subject: string, body: string, createdAt: string, readAt: string | null, orderId: string | null }} */ message) =>
        h(
          'li',
          { class: message.readAt ? 'read' : 'unread', 'data-testid': 'message' },
          h('h3', {}, message.subject),
          h('p', { class: 'muted small' }, dateTime(message.createdAt), message.orderId && [' · ', h('a', { href: `#/orders/${message.orderId}` }, 'the order')]),
          h('p', { class: 'body' }, message.body),
          !message.readAt &&
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                onclick: async () => {
                  try {
                    await call(`/api/notifications/${message.id}/read`, { method: 'POST' });
                    dispatchEvent(new Event('bazaar:inbox-read'));
                    await render(context);
                  } catch (error) {
                    notify(describe(error), 'error');
                  }
                },
              },
              'Mark read',
            ),
        ),
      ),
    ),
    pager(list, (n) => `#/inbox?page=${n}`),
  );
}
