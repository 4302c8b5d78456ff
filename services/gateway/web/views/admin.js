// @ts-check
import { ApiError, call } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { describe, notify } from '../lib/notice.js';
import * as session from '../lib/session.js';
import { faultsSection } from './faults.js';
import { orderTable, signInFirst } from './parts.js';

const ORDER_STATUSES = ['PENDING', 'CONFIRMED', 'CANCELLED'];

/**
 * Operations (admin): every service instance with its health and the
 * gateway's breaker and balancer view of it, the faults injected on purpose
 * (and a form to inject one), every customer's recent orders, and the dead
 * letters of every consuming service with a replay button each.
 * @type {import('../main.js').View}
 */
export async function render(context) {
  const { root, query, signal } = context;
  const status = ORDER_STATUSES.find((s) => s === query.get('orders'));
  if (!session.current()) return show(root, h('h1', {}, 'Operations'), signInFirst());
  if (!session.isAdmin()) return show(root, h('h1', {}, 'Operations'), h('p', {}, 'This page is for administrators.'));
  const [registry, faults, letters, orders] = await Promise.all([
    call('/api/admin/registry', { signal }),
    // Absent (404) where the gateway runs without fault injection.
    call('/api/admin/faults', { signal }).catch((/** @type {unknown} */ error) => {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }),
    call('/api/admin/dlq?limit=50', { signal }),
    call(`/api/orders/admin/orders?pageSize=15${status ? `&status=${status}` : ''}`, { signal }).catch((/** @type {unknown} */ error) => ({ failed: describe(error) })),
  ]);
  const redraw = () => void render(context);
  show(
    root,
    h('h1', {}, 'Operations ', h('button', { type: 'button', class: 'secondary', 'data-testid': 'refresh', onclick: redraw }, 'Refresh')),
    h('p', { class: 'muted' }, `Discovery: ${registry.discovery}. Traces: the trace console (port 8099 under npm start). Metrics: /metrics on each service.`),
    h('h2', {}, 'Services'),
    h(
      'table',
      { class: 'registry', 'data-testid': 'registry' },
      h('thead', {}, h('tr', {}, ['Service', 'Breaker', 'Bulkhead', 'Instance', 'pid', 'Reported', 'Probe', 'In flight', 'Ejected'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        Object.entries(registry.services).flatMap(([service, view]) => {
          /** @type {{ breaker?: string, bulkhead?: { active: number, queued: number, maxConcurrent: number }, instances: Array<{ id: string, url: string, pid: number, reported: string, probe?: string, gateway?: { inFlight: number, ejected: boolean } }> }} */
          const state = view;
          const instances = state.instances.length > 0 ? state.instances : [undefined];
          return instances.map((instance, i) =>
            h(
              'tr',
              { 'data-service': service },
              h('td', {}, i === 0 ? service : ''),
              h('td', {}, i === 0 && state.breaker ? h('span', { class: `breaker ${state.breaker}` }, state.breaker) : ''),
              h('td', {}, i === 0 && state.bulkhead ? `${state.bulkhead.active}/${state.bulkhead.maxConcurrent} (+${state.bulkhead.queued} queued)` : ''),
              h('td', {}, instance ? instance.url : h('span', { class: 'error' }, 'no instance registered')),
              h('td', {}, instance?.pid ?? ''),
              h('td', {}, instance?.reported ?? ''),
              h('td', {}, instance?.probe ? h('span', { class: `probe ${instance.probe.replace(' ', '-')}` }, instance.probe) : ''),
              h('td', { class: 'num' }, instance?.gateway?.inFlight ?? ''),
              h('td', {}, instance?.gateway?.ejected ? 'yes' : ''),
            ),
          );
        }),
      ),
    ),
    faultsSection(faults, redraw),
    h('h2', {}, 'Orders'),
    h(
      'nav',
      { class: 'chips', 'aria-label': 'Order status' },
      [undefined, ...ORDER_STATUSES].map((s) => h('a', { class: `chip${s === status ? ' active' : ''}`, href: s ? `#/admin?orders=${s}` : '#/admin' }, s ?? 'All')),
    ),
    'failed' in orders
      ? h('p', { class: 'error' }, `Orders cannot be listed: ${orders.failed}`)
      : orderTable(orders.items, {
          withCustomer: true,
          testId: 'all-orders',
          caption: `${orders.items.length} of ${orders.total}${status ? ` ${status.toLowerCase()}` : ''}, newest first`,
        }),
    h('h2', {}, `Dead letters (${letters.total})`),
    Object.entries(letters.services).some(([, status]) => status !== 'ok') &&
      h('p', { class: 'error' }, `Not answering: ${Object.entries(letters.services).filter(([, s]) => s !== 'ok').map(([name]) => name).join(', ')}`),
    letters.items.length === 0
      ? h('p', { class: 'muted' }, 'None: every message was handled.')
      : h(
          'table',
          { class: 'dlq' },
          h('thead', {}, h('tr', {}, ['Died', 'Service', 'Message', 'Reason', 'Attempts', 'Error', ''].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            letters.items.map((/** @type {{ id: string, service: string, messageName: string | null, reason: string, attempts: number, error: string, deadAt: string }} */ letter) =>
              h(
                'tr',
                {},
                h('td', {}, dateTime(letter.deadAt)),
                h('td', {}, letter.service),
                h('td', {}, letter.messageName ?? '(undecodable)'),
                h('td', {}, letter.reason),
                h('td', { class: 'num' }, letter.attempts),
                h('td', { class: 'small' }, letter.error),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'secondary',
                      onclick: async () => {
                        try {
                          const outcome = await call(`/api/admin/dlq/${letter.service}/${letter.id}/replay`, { method: 'POST' });
                          notify(`Replayed: ${outcome.outcome}.`);
                          redraw();
                        } catch (error) {
                          notify(describe(error), 'error');
                        }
                      },
                    },
                    'Replay',
                  ),
                ),
              ),
            ),
          ),
        ),
  );
}
