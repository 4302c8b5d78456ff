import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createService, loadConfig, type Database, type MessageHandlers, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { checkMessage, type Envelope } from '@bazaar/contracts/messages';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { ordersService } from './app.ts';
import { CheckoutSaga } from './application/checkout-saga.ts';
import { OrdersConfig } from './config.ts';
import type { OrderEvent } from './domain/order-events.ts';
import { emptyOrder } from './domain/order.ts';
import { ConcurrencyError, OrderEventStore } from './persistence/order-event-store.ts';
import { ORDER_UPDATES_CHANNEL, OrderProjections, parseOrderUpdate } from './persistence/order-projections.ts';

let app: ServiceApp;
let context: ServiceContext;
let db: Database;
let tokens: TestTokens;
let handlers: MessageHandlers;
let saga: CheckoutSaga;
const store = new OrderEventStore({ snapshotEvery: 3 });
const projections = new OrderProjections();

let cleanup = async () => {};
after(() => cleanup());

before(async () => {
  const service = await freshDatabase('orders', ordersService.migrations);
  db = service.db;
  cleanup = async () => {
    await app?.close();
    await service.drop();
  };
  tokens = await testTokens();
  const config = ordersConfig({
    SAGA_SWEEP_MS: '3600000',
    SAGA_STEP_TIMEOUT_MS: '1000',
    COMPENSATION_BACKOFF_BASE_MS: '10',
    COMPENSATION_BACKOFF_MAX_MS: '1000',
    COMPENSATION_STUCK_AFTER: '3',
    ORDER_SNAPSHOT_EVERY: '3',
  });
  const built = await createService({ ...ordersService, accessTokens: () => tokens.verifier }, config, { db, logger: false });
  ({ app, context } = built);
  handlers = ordersService.messageHandlers!(built.context);
  saga = new CheckoutSaga({
    db,
    store,
    projections,
    outbox: context.outbox,
    log: context.log,
    settings: { stepTimeoutMs: 1_000, reservationTtlMs: 60_000, compensationBackoffBaseMs: 10, compensationBackoffMaxMs: 1_000, stuckAfterAttempts: 3 },
  });
});

/** Orders' configuration for a test instance: every dependency unreachable (port 9), plus `settings`. */
function ordersConfig(settings: Record<string, string>) {
  return loadConfig(OrdersConfig, {
    SERVICE_NAME: 'orders',
    PORT: '0',
    IDENTITY_URL: 'http://127.0.0.1:9',
    CATALOG_URL: 'http://127.0.0.1:9',
    PAYMENTS_URL: 'http://127.0.0.1:9',
    ...settings,
  });
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function customer(): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  return { id, token: await tokens.issue({ userId: id, email: `${id.slice(0, 8)}@example.com`, roles: ['customer'] }) };
}

function orderPlaced(customerId: string): OrderEvent {
  return {
    type: 'OrderPlaced',
    data: {
      customerId,
      lines: [{ productId: randomUUID(), name: 'Blue Mug', quantity: 2, unitPrice: { amount: 1250, currency: 'EUR' } }],
      total: { amount: 2500, currency: 'EUR' },
      shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
      payment: { token: 'pm_test_0123456789', brand: 'visa', last4: '4242' },
      placedAt: new Date().toISOString(),
    },
  };
}

/** Places an order as POST /api/orders does after pricing and tokenizing. */
async function place(customerId: string): Promise<string> {
  const id = randomUUID();
  await db.transaction(async (tx) => {
    const order = await store.append(tx, emptyOrder(id), [orderPlaced(customerId)], new Date());
    await projections.project(tx, order);
    await saga.start(tx, order, new Date());
  });
  return id;
}

/** The commands written to the outbox for `orderId`, oldest first. */
async function sagaRow(orderId: string): Promise<{ status: string; awaiting: string[]; attempts: number }> {
  const { rows } = await db.query<{ status: string; awaiting: string[]; attempts: number }>('SELECT status, awaiting, attempts FROM sagas WHERE order_id = $1', [orderId]);
  return rows[0]!;
}

async function commands(orderId: string): Promise<string[]> {
  const { rows } = await db.query<{ message_name: string }>('SELECT message_name FROM outbox WHERE key = $1 ORDER BY seq', [orderId]);
  return rows.map((row) => row.message_name);
}

/** Delivers a participant's reply the way the consumer does: the handler in a transaction. */
async function reply(name: string, data: Record<string, unknown>): Promise<void> {
  const envelope: Envelope = { id: randomUUID(), type: name.replace(/\.v\d+$/, ''), version: 1, time: new Date().toISOString(), key: String(data['orderId']), correlationId: randomUUID(), causationId: null, data };
  assert.equal(checkMessage(envelope).ok, true, `the test's ${name} must match its contract`);
  const handler = (handlers as Record<string, (d: unknown, c: unknown) => Promise<void>>)[name]!;
  await db.transaction((tx) => handler(data, { tx, envelope, outbox: context.outbox, log: context.log, attempt: 1 }));
}

async function view(orderId: string, token: string) {
  const response = await app.inject({ method: 'GET', url: `/api/orders/${orderId}`, headers: auth(token) });
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

describe('order event store', () => {
  it('refuses a second writer that read the same version (optimistic concurrency)', async () => {
    const id = randomUUID();
    const placed = await db.transaction((tx) => store.append(tx, emptyOrder(id), [orderPlaced(randomUUID())], new Date()));
    await db.transaction((tx) => store.append(tx, placed, [{ type: 'CancellationRequested', data: { by: 'customer' } }], new Date()));
    await assert.rejects(
      db.transaction((tx) => store.append(tx, placed, [{ type: 'CheckoutStepSucceeded', data: { step: 'reserve-stock' } }], new Date())),
      ConcurrencyError,
    );
  });

  it('snapshots every N events, and a load from the snapshot equals a full replay', async () => {
    const id = randomUUID();
    let order = await db.transaction((tx) => store.append(tx, emptyOrder(id), [orderPlaced(randomUUID())], new Date()));
    for (const step of ['reserve-stock', 'authorize-payment', 'create-shipment'] as const) {
      order = await db.transaction((tx) => store.append(tx, order, [{ type: 'CheckoutStepSucceeded', data: { step } }], new Date()));
    }
    const { rows } = await db.query<{ version: number }>('SELECT version FROM order_snapshots WHERE order_id = $1', [id]);
    assert.deepEqual(rows, [{ version: 3 }]);
    const fromSnapshot = await store.load(db, id);
    await db.query('DELETE FROM order_snapshots WHERE order_id = $1', [id]);
    assert.deepEqual(fromSnapshot, await store.load(db, id));
    assert.equal(fromSnapshot!.version, 4);
    assert.deepEqual(fromSnapshot!.steps, ['capture-payment', 'commit-stock']);
  });

  it('loads streams written with an old event version (OrderPlaced v1 is upcast)', async () => {
    const id = randomUUID();
    const productId = randomUUID();
    const v1 = {
      customerId: randomUUID(),
      items: [{ productId, name: 'Old Mug', quantity: 3, price: 700 }],
      currency: 'EUR',
      total: 2100,
      shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
      paymentToken: 'pm_legacy_0000000001',
      placedAt: '2025-01-01T00:00:00.000Z',
    };
    await db.query("INSERT INTO order_events (order_id, version, type, schema_version, data) VALUES ($1, 1, 'OrderPlaced', 1, $2)", [id, JSON.stringify(v1)]);
    const order = await store.load(db, id);
    assert.deepEqual(order!.lines, [{ productId, name: 'Old Mug', quantity: 3, unitPrice: { amount: 700, currency: 'EUR' } }]);
    assert.deepEqual(order!.total, { amount: 2100, currency: 'EUR' });
    assert.equal(order!.payment.token, 'pm_legacy_0000000001');
  });

  it('is append-only: events cannot be updated or deleted', async () => {
    const id = randomUUID();
    await db.transaction((tx) => store.append(tx, emptyOrder(id), [orderPlaced(randomUUID())], new Date()));
    await assert.rejects(db.query("UPDATE order_events SET data = '{}' WHERE order_id = $1", [id]), /append-only/);
    await assert.rejects(db.query('DELETE FROM order_events WHERE order_id = $1', [id]), /append-only/);
  });
});

describe('order read models', () => {
  it('notify live streams with the new view, or with the id alone when the view would not fit a NOTIFY', async () => {
    const listener = await db.pool.connect();
    const notices: string[] = [];
    listener.on('notification', (message) => {
      if (message.channel === ORDER_UPDATES_CHANNEL && message.payload) notices.push(message.payload);
    });
    await listener.query(`LISTEN ${ORDER_UPDATES_CHANNEL}`);
    try {
      const small = await db.transaction((tx) => store.append(tx, emptyOrder(randomUUID()), [orderPlaced(randomUUID())], new Date()));
      await db.transaction((tx) => projections.project(tx, small));
      // 50 lines with long names: a view of some 20 KB.
      const placed = orderPlaced(randomUUID());
      if (placed.type !== 'OrderPlaced') throw new Error('unreachable');
      placed.data.lines = Array.from({ length: 50 }, (_, i) => ({ productId: randomUUID(), name: `${'A very long product name '.repeat(12)}${i}`, quantity: 1, unitPrice: { amount: 100, currency: 'EUR' } }));
      const large = await db.transaction((tx) => store.append(tx, emptyOrder(randomUUID()), [placed], new Date()));
      await db.transaction((tx) => projections.project(tx, large));
      for (let i = 0; i < 100 && notices.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));

      const [withView, idOnly] = notices.map(parseOrderUpdate);
      assert.equal(withView!.orderId, small.id);
      const { customerId: _owner, ...stored } = (await projections.detail(db, small.id))!;
      assert.deepEqual(withView!.view?.(), stored, 'the view the notice carries is the one stored');
      assert.deepEqual(idOnly, { orderId: large.id }, 'too large for NOTIFY: the id alone, and the projection still committed');
      assert.equal((await projections.detail(db, large.id))!.items.length, 50);
    } finally {
      await listener.query(`UNLISTEN ${ORDER_UPDATES_CHANNEL}`);
      listener.release();
    }
  });

  it('list every customer’s orders for admins, by customer and status, newest first; nobody else', async () => {
    const [ada, grace] = [await customer(), await customer()];
    const placed = [await place(ada.id), await place(grace.id), await place(ada.id)];
    const admin = await tokens.issue({ userId: randomUUID(), email: 'admin@example.com', roles: ['admin'] });
    const list = async (query: string, token = admin) => app.inject({ method: 'GET', url: `/api/orders/admin/orders${query}`, headers: auth(token) });

    const adas = (await list(`?customerId=${ada.id}`)).json();
    assert.equal(adas.total, 2);
    assert.deepEqual(adas.items.map((o: { id: string }) => o.id).sort(), [placed[0], placed[2]].sort());
    assert.ok(adas.items.every((o: { customerId: string; status: string }) => o.customerId === ada.id && o.status === 'PENDING'));
    assert.ok(adas.items[0].placedAt >= adas.items[1].placedAt, 'newest first');
    assert.equal((await list(`?customerId=${grace.id}&status=PENDING`)).json().total, 1);
    assert.equal((await list(`?customerId=${ada.id}&status=CONFIRMED`)).json().total, 0);
    const everyone = (await list('?status=PENDING&pageSize=100')).json();
    for (const id of placed) assert.ok(everyone.items.some((o: { id: string }) => o.id === id), `${id} among everyone's pending orders`);

    assert.equal((await list('', ada.token)).statusCode, 403, 'a customer is refused');
    assert.equal((await app.inject({ method: 'GET', url: '/api/orders/admin/orders' })).statusCode, 401);
    for (const bad of ['?customerId=nope', '?status=LOST', '?pageSize=0', '?sort=placedAt']) {
      const refused = await list(bad);
      assert.equal(refused.statusCode, 400, bad);
      assert.equal(refused.json().code, 'VALIDATION_FAILED', bad);
    }
    const own = (await app.inject({ method: 'GET', url: '/api/orders', headers: auth(ada.token) })).json();
    assert.equal(own.total, 2);
    assert.equal(own.items[0].customerId, undefined, 'a customer’s own list does not carry the owner');
  });
});

describe('checkout saga', () => {
  it('walks the five steps on replies, capture and commit side by side, and confirms; the read models follow', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    assert.equal((await view(id, buyer.token)).status, 'PENDING');
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('payments.authorize-payment-result.v1', { orderId: id, outcome: 'succeeded', paymentId: randomUUID() });
    await reply('shipping.create-shipment-result.v1', { orderId: id, outcome: 'succeeded', shipmentId: randomUUID(), trackingNumber: 'BZ123456789012' });
    // The last stage goes out whole: both commands before either reply.
    assert.deepEqual((await commands(id)).slice(3), ['payments.capture-payment.v1', 'catalog.commit-stock.v1']);
    assert.deepEqual((await sagaRow(id)).awaiting, ['capture-payment', 'commit-stock']);
    await reply('catalog.commit-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.deepEqual((await sagaRow(id)).awaiting, ['capture-payment']);
    assert.equal((await view(id, buyer.token)).status, 'PENDING', 'confirmed only once both answered');
    await reply('payments.capture-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.deepEqual(await commands(id), [
      'catalog.reserve-stock.v1',
      'payments.authorize-payment.v1',
      'shipping.create-shipment.v1',
      'payments.capture-payment.v1',
      'catalog.commit-stock.v1',
      'orders.order-confirmed.v1',
    ]);
    const order = await view(id, buyer.token);
    assert.equal(order.status, 'CONFIRMED');
    assert.equal(order.trackingNumber, 'BZ123456789012');
    assert.deepEqual(order.total, { amount: 2500, currency: 'EUR' });
    assert.equal(order.payment.last4, '4242');
    assert.ok(!JSON.stringify(order).includes('pm_test'), 'the payment token is not shown');
    const list = (await app.inject({ method: 'GET', url: '/api/orders', headers: auth(buyer.token) })).json();
    assert.deepEqual(list.items.map((o: { id: string; status: string }) => [o.id, o.status]), [[id, 'CONFIRMED']]);
  });

  it('a decline compensates in reverse and ends CANCELLED with the readable reason', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('payments.authorize-payment-result.v1', { orderId: id, outcome: 'failed', code: 'CARD_DECLINED', reason: 'Your card was declined.' });
    assert.equal((await view(id, buyer.token)).status, 'PENDING', 'still compensating');
    await reply('catalog.release-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    const order = await view(id, buyer.token);
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.reason, 'Your card was declined.');
    assert.equal(order.code, 'CARD_DECLINED');
    assert.deepEqual((await commands(id)).slice(2), ['catalog.release-stock.v1', 'orders.order-cancelled.v1']);
  });

  it('a stock commit refused after the capture cancels the shipment, refunds and releases', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('payments.authorize-payment-result.v1', { orderId: id, outcome: 'succeeded', paymentId: randomUUID() });
    await reply('shipping.create-shipment-result.v1', { orderId: id, outcome: 'succeeded', shipmentId: randomUUID(), trackingNumber: 'BZ123456789013' });
    await reply('payments.capture-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('catalog.commit-stock-result.v1', { orderId: id, outcome: 'failed', code: 'RESERVATION_EXPIRED', reason: 'The reservation lapsed before the order was confirmed.' });
    await reply('shipping.cancel-shipment-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('payments.refund-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('catalog.release-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.deepEqual((await commands(id)).slice(5), ['shipping.cancel-shipment.v1', 'payments.refund-payment.v1', 'catalog.release-stock.v1', 'orders.order-cancelled.v1']);
    const order = await view(id, buyer.token);
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.code, 'RESERVATION_EXPIRED');
  });

  it('a saga row written by the previous release (capture alone in flight) sends the stock commit when the capture answers', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('payments.authorize-payment-result.v1', { orderId: id, outcome: 'succeeded', paymentId: randomUUID() });
    // As the previous release left it: create-shipment in flight alone.
    await db.query("UPDATE sagas SET awaiting = '{create-shipment}' WHERE order_id = $1", [id]);
    await reply('shipping.create-shipment-result.v1', { orderId: id, outcome: 'succeeded', shipmentId: randomUUID(), trackingNumber: 'BZ123456789014' });
    // The previous release would have sent only the capture: its row awaits that alone.
    await db.query("UPDATE sagas SET awaiting = '{capture-payment}' WHERE order_id = $1", [id]);
    const before = (await commands(id)).filter((name) => name === 'catalog.commit-stock.v1').length;
    await reply('payments.capture-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.equal((await commands(id)).filter((name) => name === 'catalog.commit-stock.v1').length, before + 1, 'the commit goes out on the capture reply');
    assert.deepEqual((await sagaRow(id)).awaiting, ['commit-stock']);
    await reply('catalog.commit-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.equal((await view(id, buyer.token)).status, 'CONFIRMED');
  });

  it('a redelivered or stale reply changes nothing', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('shipping.create-shipment-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.deepEqual(await commands(id), ['catalog.reserve-stock.v1', 'payments.authorize-payment.v1']);
    const { rows } = await db.query('SELECT count(*)::int AS n FROM order_events WHERE order_id = $1', [id]);
    assert.equal(rows[0]!['n'], 2);
  });

  it('a step past its deadline is compensated, including the step itself; an unanswered compensation is resent until it succeeds', async () => {
    const buyer = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    const later = new Date(Date.now() + 2_000);
    await saga.sweep(() => later);
    assert.deepEqual((await commands(id)).slice(2), ['payments.void-payment.v1']);
    // The void goes unanswered (payments is down): it is sent again after a longer wait.
    await saga.sweep(() => new Date(later.getTime() + 1_500));
    assert.deepEqual((await commands(id)).slice(2), ['payments.void-payment.v1', 'payments.void-payment.v1']);
    const { rows } = await db.query<{ attempts: number; status: string }>('SELECT attempts, status FROM sagas WHERE order_id = $1', [id]);
    assert.deepEqual(rows[0], { attempts: 2, status: 'COMPENSATING' });
    await reply('payments.void-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('catalog.release-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    const order = await view(id, buyer.token);
    assert.equal(order.status, 'CANCELLED');
    assert.equal(order.code, 'STEP_TIMED_OUT');
    const admin = await tokens.issue({ userId: randomUUID(), email: 'admin@example.com', roles: ['admin'] });
    const timeline = (await app.inject({ method: 'GET', url: `/api/orders/admin/sagas/${id}`, headers: auth(admin) })).json();
    assert.equal(timeline.status, 'CANCELLED');
    assert.ok(timeline.timeline.some((t: { action: string }) => t.action === 'command resent'));
    assert.equal((await app.inject({ method: 'GET', url: `/api/orders/admin/sagas/${id}`, headers: auth(buyer.token) })).statusCode, 403);
  });

  it('the customer cancels while pending; a confirmed order answers 409; another customer sees 404', async () => {
    const buyer = await customer();
    const other = await customer();
    const id = await place(buyer.id);
    await reply('catalog.reserve-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.equal((await app.inject({ method: 'POST', url: `/api/orders/${id}/cancel`, headers: auth(other.token) })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: `/api/orders/${id}`, headers: auth(other.token) })).statusCode, 404);
    const cancel = await app.inject({ method: 'POST', url: `/api/orders/${id}/cancel`, headers: auth(buyer.token) });
    assert.equal(cancel.statusCode, 202, cancel.body);
    // The authorization in flight may have happened: it is voided, then the stock released.
    assert.deepEqual((await commands(id)).slice(2), ['payments.void-payment.v1']);
    await reply('payments.void-payment-result.v1', { orderId: id, outcome: 'succeeded' });
    await reply('catalog.release-stock-result.v1', { orderId: id, outcome: 'succeeded' });
    assert.equal((await view(id, buyer.token)).reason, 'You cancelled the order.');

    const confirmed = await place(buyer.id);
    for (const [name, extra] of [
      ['catalog.reserve-stock-result.v1', {}],
      ['payments.authorize-payment-result.v1', {}],
      ['shipping.create-shipment-result.v1', {}],
      ['payments.capture-payment-result.v1', {}],
      ['catalog.commit-stock-result.v1', {}],
    ] as const) {
      await reply(name, { orderId: confirmed, outcome: 'succeeded', ...extra });
    }
    const late = await app.inject({ method: 'POST', url: `/api/orders/${confirmed}/cancel`, headers: auth(buyer.token) });
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().code, 'ORDER_NOT_CANCELLABLE');
  });

  it('rebuilds both read models from the streams', async () => {
    const { rows: before } = await db.query('SELECT order_id, status, version, total_amount FROM order_summaries ORDER BY order_id');
    const { rows: details } = await db.query('SELECT order_id, document FROM order_details ORDER BY order_id');
    await db.query('UPDATE order_summaries SET status = $1', ['PENDING']);
    const count = await projections.rebuild(db, store.allOrders(db));
    assert.ok(count >= before.length);
    const { rows: after } = await db.query('SELECT order_id, status, version, total_amount FROM order_summaries ORDER BY order_id');
    const { rows: detailsAfter } = await db.query('SELECT order_id, document FROM order_details ORDER BY order_id');
    assert.deepEqual(after.filter((row) => before.some((b) => b['order_id'] === row['order_id'])), before);
    assert.deepEqual(detailsAfter.filter((row) => details.some((d) => d['order_id'] === row['order_id'])), details);
  });
});

describe('POST /api/orders input', () => {
  const body = {
    items: [{ productId: randomUUID(), quantity: 1 }],
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
    payment: { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' },
  };

  it('requires an Idempotency-Key', async () => {
    const buyer = await customer();
    const response = await app.inject({ method: 'POST', url: '/api/orders', headers: auth(buyer.token), payload: body });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().code, 'IDEMPOTENCY_KEY_REQUIRED');
  });

  it('answers garbage with 400 problem+json, never 500', async () => {
    const buyer = await customer();
    const headers = { ...auth(buyer.token), 'idempotency-key': randomUUID(), 'content-type': 'application/json' };
    for (const payload of ['{', '[]', '{"items": "many"}', JSON.stringify({ ...body, items: [{ productId: 'x', quantity: 1 }] }), JSON.stringify({ ...body, items: [{ productId: randomUUID(), quantity: 0 }] }), JSON.stringify({ ...body, payment: { ...body.payment, cvc: 'abc' } }),
      // Two lines of one product, each within bounds, together over what an order may hold (found by the bad-input fuzz: 500 before).
      JSON.stringify({ ...body, items: [{ productId: body.items[0]!.productId, quantity: 967 }, { productId: body.items[0]!.productId.toUpperCase(), quantity: 631 }] })]) {
      const response = await app.inject({ method: 'POST', url: '/api/orders', headers, payload });
      assert.equal(response.statusCode, 400, payload);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/orders/not-a-uuid', headers: auth(buyer.token) })).statusCode, 400);
    assert.equal((await app.inject({ method: 'POST', url: '/api/orders', payload: body })).statusCode, 401);
  });

  it('answers 502 with a problem when the catalog cannot be reached', async () => {
    const buyer = await customer();
    const response = await app.inject({ method: 'POST', url: '/api/orders', headers: { ...auth(buyer.token), 'idempotency-key': randomUUID() }, payload: body });
    assert.equal(response.statusCode, 502, response.body);
    assert.equal(response.json().code, 'UPSTREAM_UNAVAILABLE');
  });
});

describe('policies of the saga’s commands (breaker, bulkhead, resend budget per participant)', () => {
  let guarded: ServiceApp;
  let guardedContext: ServiceContext;
  let guardedDb: Database;
  let drop = async () => {};
  after(async () => {
    await guarded?.close();
    await drop();
  });

  const body = {
    items: [{ productId: randomUUID(), quantity: 1 }],
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
    payment: { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' },
  };

  before(async () => {
    const service = await freshDatabase('orders', ordersService.migrations);
    guardedDb = service.db;
    drop = service.drop;
    const config = ordersConfig({
      SAGA_SWEEP_MS: '20',
      SAGA_STEP_TIMEOUT_MS: '100',
      COMMAND_POLICY_OVERRIDES: JSON.stringify({ catalog: { bulkhead: { maxInFlight: 2 } }, payments: { breaker: { minimumCalls: 2, windowCalls: 4, halfOpenAfterMs: 60_000 } } }),
    });
    const built = await createService({ ...ordersService, accessTokens: () => tokens.verifier }, config, { db: guardedDb, logger: false });
    ({ app: guarded, context: guardedContext } = built);
  });

  async function placeOrder(token: string, key = randomUUID()) {
    return guarded.inject({ method: 'POST', url: '/api/orders', headers: { ...auth(token), 'idempotency-key': key }, payload: body });
  }

  async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
    const until = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > until) assert.fail(`timed out waiting for: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('refuse a new order at once (503 + Retry-After, nothing written) while catalog has its bulkhead’s worth of commands in flight, or payments’ breaker is open after missed deadlines', async () => {
    const buyer = await customer();
    const local = new CheckoutSaga({ db: guardedDb, store, projections, outbox: guardedContext.outbox, log: guardedContext.log, settings: { stepTimeoutMs: 60_000, reservationTtlMs: 60_000, compensationBackoffBaseMs: 10, compensationBackoffMaxMs: 1_000, stuckAfterAttempts: 3 } });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const id = randomUUID();
      ids.push(id);
      await guardedDb.transaction(async (tx) => {
        const order = await store.append(tx, emptyOrder(id), [orderPlaced(buyer.id)], new Date());
        await projections.project(tx, order);
        await local.start(tx, order, new Date());
      });
    }
    // Two reservations awaiting catalog: its bulkhead (2) is full once the sweeper has counted them.
    let refused = await placeOrder(buyer.token);
    await eventually('the bulkhead to fill', async () => (refused = await placeOrder(buyer.token)).statusCode === 503);
    assert.equal(refused.json().code, 'UPSTREAM_SATURATED');
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(String(refused.headers['content-type']), /application\/problem\+json/);

    // Catalog answers; the authorizations go unanswered past their deadline (100 ms): payments' breaker opens.
    const handlersOfGuarded = ordersService.messageHandlers!(guardedContext as Parameters<NonNullable<typeof ordersService.messageHandlers>>[0]) as unknown as Record<string, (d: unknown, c: unknown) => Promise<void>>;
    for (const id of ids) {
      const data = { orderId: id, outcome: 'succeeded' };
      const envelope = { id: randomUUID(), type: 'catalog.reserve-stock-result', version: 1, time: new Date().toISOString(), key: id, correlationId: randomUUID(), causationId: null, data };
      await guardedDb.transaction((tx) => handlersOfGuarded['catalog.reserve-stock-result.v1']!(data, { tx, envelope, outbox: guardedContext.outbox, log: guardedContext.log, attempt: 1 }));
    }
    // Placing orders meanwhile also fails at the catalog price lookup (no catalog runs here), which may open
    // the HTTP breaker to catalog first: wait for the refusal that names payments' commands.
    await eventually('payments’ breaker to open', async () => /payments is not answering its commands/.test(String((refused = await placeOrder(buyer.token)).json().detail)));
    assert.equal(refused.json().code, 'UPSTREAM_CIRCUIT_OPEN');
    assert.equal(refused.statusCode, 503);
    assert.ok(Number(refused.headers['retry-after']) >= 59, `Retry-After until the trial: ${refused.headers['retry-after']}`);
    const metrics = await guarded.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /saga_command_circuit_state\{participant="payments"[^}]*\} 2\n/);
    assert.match(metrics.body, /saga_command_outcomes_total\{participant="payments",outcome="timed_out"[^}]*\} [2-9]/);

    // Nothing was written for the refused orders: only the two placed above exist, and their keys were never used.
    const { rows } = await guardedDb.query<{ orders: number; keys: number }>('SELECT (SELECT count(*)::int FROM order_summaries) AS orders, (SELECT count(*)::int FROM idempotency_keys) AS keys');
    assert.deepEqual(rows[0], { orders: 2, keys: 0 });
  });

  it('defer a compensation’s resend by a backoff when the participant’s resend budget is spent', async () => {
    const buyer = await customer();
    const local = new CheckoutSaga({
      db: guardedDb,
      store,
      projections,
      outbox: guardedContext.outbox,
      log: guardedContext.log,
      commandPolicies: { payments: { retryBudget: { ratio: 0, minPerSecond: 0 } } },
      settings: { stepTimeoutMs: 60_000, reservationTtlMs: 60_000, compensationBackoffBaseMs: 10, compensationBackoffMaxMs: 1_000, stuckAfterAttempts: 3 },
    });
    const id = randomUUID();
    await guardedDb.transaction(async (tx) => {
      const order = await store.append(tx, emptyOrder(id), [orderPlaced(buyer.id)], new Date());
      await projections.project(tx, order);
      await local.start(tx, order, new Date());
      // The customer cancels at once: the reservation in flight is released (catalog), nothing else.
      await local.handle(tx, id, { kind: 'cancel' }, new Date());
    });
    const releases = async () => (await guardedDb.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1 AND message_name = $2', [id, 'catalog.release-stock.v1'])).rows[0]!['n'];
    assert.equal(await releases(), 1);
    // Catalog's budget is the default: the unanswered release is resent.
    await guardedDb.transaction((tx) => local.handle(tx, id, { kind: 'deadline' }, new Date(Date.now() + 61_000)));
    assert.equal(await releases(), 2);

    // Payments' budget is zero: a void past its deadline waits a backoff instead of going out again.
    const paying = randomUUID();
    await guardedDb.transaction(async (tx) => {
      const order = await store.append(tx, emptyOrder(paying), [orderPlaced(buyer.id)], new Date());
      await projections.project(tx, order);
      await local.start(tx, order, new Date());
    });
    const data = { orderId: paying, outcome: 'succeeded' as const };
    await guardedDb.transaction((tx) => local.handle(tx, paying, { kind: 'reply', reply: { ...data, action: 'reserve-stock' } }, new Date()));
    await guardedDb.transaction((tx) => local.handle(tx, paying, { kind: 'cancel' }, new Date()));
    const voids = async () => (await guardedDb.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1 AND message_name = $2', [paying, 'payments.void-payment.v1'])).rows[0]!['n'];
    assert.equal(await voids(), 1);
    const now = new Date(Date.now() + 61_000);
    await guardedDb.transaction((tx) => local.handle(tx, paying, { kind: 'deadline' }, now));
    assert.equal(await voids(), 1);
    const { rows } = await guardedDb.query<{ attempts: number; deadline_at: Date }>('SELECT attempts, deadline_at FROM sagas WHERE order_id = $1', [paying]);
    assert.equal(rows[0]!.attempts, 1);
    assert.ok(rows[0]!.deadline_at.getTime() > now.getTime() && rows[0]!.deadline_at.getTime() <= now.getTime() + 1_000);
    const timeline = await local.timeline(guardedDb, paying);
    assert.ok(timeline!.timeline.some((entry) => entry.action === 'resend deferred' && entry.step === 'void-payment'));
  });
});
