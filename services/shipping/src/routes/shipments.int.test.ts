import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { auth, createShipment, envelopeOf, handle, newCustomer, orderConfirmed, shippingHarness, type Customer, type Harness } from '../testing/harness.ts';

let harness: Harness;
after(() => harness?.close());
before(async () => {
  harness = await shippingHarness('shipping_routes');
});

type Listing = { items: Array<Record<string, unknown>>; total: number; page: number; pageSize: number };

async function list(token: string, query = ''): Promise<Listing> {
  const res = await harness.app.inject({ url: `/api/shipments${query}`, headers: auth(token) });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** Books a shipment for a new order of `customer`, as checkout does; returns the order id. */
async function book(customer: Customer, address: { country?: string; city?: string } = {}): Promise<string> {
  const command = envelopeOf('shipping.create-shipment.v1', createShipment(customer.userId, address));
  await handle(harness, command);
  return (command.data as { orderId: string }).orderId;
}

describe('listing shipments', () => {
  it('shows a customer their own shipments, newest first, in pages, with destination city and country only', async () => {
    const customer = await newCustomer(harness);
    const first = await book(customer, { city: 'Amsterdam', country: 'NL' });
    const second = await book(customer, { city: 'Berlin', country: 'DE' });
    const third = await book(customer, { city: 'Paris', country: 'FR' });
    await handle(harness, envelopeOf('orders.order-confirmed.v1', orderConfirmed(third, customer.userId)));
    await handle(harness, envelopeOf('shipping.cancel-shipment.v1', { orderId: second, reason: 'Your card was declined.' }));

    const page = await list(customer.token, '?pageSize=2');
    assert.equal(page.total, 3);
    assert.equal(page.page, 1);
    assert.equal(page.pageSize, 2);
    assert.deepEqual(
      page.items.map((s) => s['orderId']),
      [third, second],
    );
    const [dispatched, cancelled] = page.items;
    assert.equal(dispatched!['status'], 'DISPATCHED');
    assert.equal(dispatched!['carrier'], 'Bazaar Post');
    assert.match(dispatched!['trackingNumber'] as string, /^BZ[0-9A-Z]{12}$/);
    assert.deepEqual(dispatched!['destination'], { city: 'Paris', country: 'FR' });
    assert.ok(!Number.isNaN(Date.parse(dispatched!['dispatchedAt'] as string)));
    assert.equal(dispatched!['cancelledAt'], undefined);
    assert.deepEqual(Object.keys(dispatched!).sort(), ['carrier', 'createdAt', 'destination', 'dispatchedAt', 'id', 'orderId', 'status', 'trackingNumber']);
    assert.equal(cancelled!['status'], 'CANCELLED');
    assert.ok(!Number.isNaN(Date.parse(cancelled!['cancelledAt'] as string)));
    assert.equal(cancelled!['dispatchedAt'], undefined);

    const rest = await list(customer.token, '?pageSize=2&page=2');
    assert.deepEqual(
      rest.items.map((s) => [s['orderId'], s['status'], s['dispatchedAt'], s['cancelledAt']]),
      [[first, 'BOOKED', undefined, undefined]],
    );
    const beyond = await list(customer.token, '?pageSize=2&page=9');
    assert.deepEqual(beyond.items, []);
    assert.equal(beyond.total, 3, 'past the last page the total is still reported');
  });

  it('shows a refused booking without a tracking number', async () => {
    const customer = await newCustomer(harness);
    await book(customer, { city: 'McMurdo Station', country: 'AQ' });
    const [refused] = (await list(customer.token)).items;
    assert.equal(refused!['status'], 'REJECTED');
    assert.equal(refused!['trackingNumber'], null);
  });

  it('filters by order', async () => {
    const customer = await newCustomer(harness);
    const wanted = await book(customer);
    await book(customer);
    const filtered = await list(customer.token, `?orderId=${wanted}`);
    assert.equal(filtered.total, 1);
    assert.equal(filtered.items[0]!['orderId'], wanted);
    assert.equal((await list(customer.token, `?orderId=${randomUUID()}`)).total, 0);
  });

  it('never shows another customer\'s shipments, nor tombstones', async () => {
    const owner = await newCustomer(harness);
    const other = await newCustomer(harness);
    const ownersOrder = await book(owner);
    const tombstoned = randomUUID();
    await handle(harness, envelopeOf('shipping.cancel-shipment.v1', { orderId: tombstoned, reason: 'Timed out.' }));

    assert.equal((await list(other.token)).total, 0);
    assert.equal((await list(other.token, `?orderId=${ownersOrder}`)).total, 0);
    assert.equal((await list(other.token, `?orderId=${tombstoned}`)).total, 0);
    assert.equal((await list(owner.token)).total, 1);
  });

  it('shows an admin everyone\'s shipments, tombstones included', async () => {
    const admin = await newCustomer(harness, ['customer', 'admin']);
    const customer = await newCustomer(harness);
    const order = await book(customer, { city: 'Lisbon', country: 'PT' });
    const tombstoned = randomUUID();
    await handle(harness, envelopeOf('shipping.cancel-shipment.v1', { orderId: tombstoned, reason: 'Timed out.' }));

    const theirs = await list(admin.token, `?orderId=${order}`);
    assert.equal(theirs.total, 1);
    assert.deepEqual(theirs.items[0]!['destination'], { city: 'Lisbon', country: 'PT' });
    const tombstone = (await list(admin.token, `?orderId=${tombstoned}`)).items[0]!;
    assert.equal(tombstone['status'], 'CANCELLED');
    assert.equal(tombstone['destination'], null);
    assert.equal(tombstone['trackingNumber'], null);
    assert.ok((await list(admin.token)).total >= 2);
  });
});

describe('one shipment', () => {
  it('is shown to its customer and to admins, and looks unknown to anyone else', async () => {
    const owner = await newCustomer(harness);
    const other = await newCustomer(harness);
    const admin = await newCustomer(harness, ['admin']);
    const orderId = await book(owner, { city: 'Oslo', country: 'NO' });
    const [listed] = (await list(owner.token)).items;

    const mine = await harness.app.inject({ url: `/api/shipments/${listed!['id']}`, headers: auth(owner.token) });
    assert.equal(mine.statusCode, 200, mine.body);
    assert.deepEqual(mine.json(), listed);
    assert.equal(mine.json().orderId, orderId);

    const asAdmin = await harness.app.inject({ url: `/api/shipments/${listed!['id']}`, headers: auth(admin.token) });
    assert.equal(asAdmin.statusCode, 200);

    for (const [who, id] of [
      [other.token, listed!['id']],
      [owner.token, randomUUID()],
      [admin.token, randomUUID()],
    ] as const) {
      const res = await harness.app.inject({ url: `/api/shipments/${id}`, headers: auth(who) });
      assert.equal(res.statusCode, 404);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'SHIPMENT_NOT_FOUND');
    }
  });
});

describe('bad requests', () => {
  it('answers 401 without a valid access token', async () => {
    for (const url of ['/api/shipments', `/api/shipments/${randomUUID()}`]) {
      for (const headers of [{}, { authorization: 'Bearer not.a.token' }, auth(await harness.tokens.issue({ expiresIn: '-1m' }))]) {
        const res = await harness.app.inject({ url, headers });
        assert.equal(res.statusCode, 401, `${url} ${JSON.stringify(headers)}`);
        assert.equal(res.json().code, 'UNAUTHENTICATED');
      }
    }
    const noUser = await harness.app.inject({ url: '/api/shipments', headers: auth(await harness.tokens.issue({ userId: 'service-account' })) });
    assert.equal(noUser.statusCode, 401, 'a token whose subject is not a user id');
  });

  it('rejects bad query parameters and ids with problem+json', async () => {
    const { token } = await newCustomer(harness);
    const urls = [
      '/api/shipments?orderId=not-a-uuid',
      "/api/shipments?orderId='%20OR%201=1--",
      '/api/shipments?orderId=',
      '/api/shipments?pageSize=1000',
      '/api/shipments?pageSize=0',
      '/api/shipments?page=0',
      '/api/shipments?page=two',
      '/api/shipments?customerId=00000000-0000-4000-8000-000000000000',
      '/api/shipments/not-a-uuid',
      "/api/shipments/'%20OR%201=1--",
    ];
    for (const url of urls) {
      const res = await harness.app.inject({ url, headers: auth(token) });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
  });

  it('has no routes that change shipments (checkout does), and says so with problem+json even to garbage', async () => {
    const { token } = await newCustomer(harness);
    for (const payload of ['{"orderId": "x"}', '{"orderId":']) {
      for (const url of ['/api/shipments', `/api/shipments/${randomUUID()}`]) {
        const res = await harness.app.inject({ method: 'POST', url, headers: { ...auth(token), 'content-type': 'application/json' }, payload });
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url} ${payload}: ${res.statusCode} ${res.body}`);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      }
    }
  });
});
