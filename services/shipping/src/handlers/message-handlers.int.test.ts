import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { EmbeddedBroker } from '@bazaar/chassis';
import type { Envelope } from '@bazaar/contracts/messages';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { topology } from '@bazaar/topology';
import { CARRIER } from '../domain/carrier.ts';
import { ShipmentRepository } from '../persistence/shipment-repository.ts';
import { shippingHandlers } from './message-handlers.ts';
import { auth, createShipment, envelopeOf, handle, newCustomer, orderConfirmed, outboxFor, shipmentRows, shippingHarness, type Harness } from '../testing/harness.ts';

let harness: Harness;
let broker: EmbeddedBroker;
after(() => harness?.close());

before(async () => {
  harness = await shippingHarness('shipping_handlers', { embeddedBroker: { pollMs: 200, flows: { groups: { shipping: topology.shipping.consumes } } } });
  broker = harness.broker!;
});

const customerId = () => randomUUID();
const payload = (envelope: Envelope) => envelope.data as Record<string, unknown>;

/** Books a shipment for a fresh order and returns the command, its reply and the row. */
async function booked(country = 'GB') {
  const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId(), { country }));
  await handle(harness, command);
  const orderId = payload(command)['orderId'] as string;
  const [reply] = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
  const [row] = await shipmentRows(harness, orderId);
  return { command, orderId, reply: reply!, row: row! };
}

describe('create-shipment', () => {
  it('books a shipment with Bazaar Post and answers the orders saga with its id and tracking number', async () => {
    const { command, orderId, reply, row } = await booked('NL');
    const data = payload(command);
    assert.equal(row.status, 'BOOKED');
    assert.equal(row.customer_id, data['customerId']);
    assert.equal(row.carrier, CARRIER);
    assert.match(row.tracking_number!, /^BZ[0-9A-Z]{12}$/);
    assert.deepEqual(row.address, data['address']);
    assert.deepEqual(row.lines, data['lines']);
    assert.equal(row.reject_code, null);

    assert.equal(`${reply.type}.v${reply.version}`, 'shipping.create-shipment-result.v1');
    assert.equal(reply.key, orderId);
    assert.equal(reply.destination, 'orders', 'the reply goes where the command said');
    assert.deepEqual(reply.data, { orderId, outcome: 'succeeded', shipmentId: row.id, trackingNumber: row.tracking_number });
  });

  it('replies to the replyTo of the command, and to orders when it names none', async () => {
    const elsewhere = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()), { replyTo: 'checkout-v2' });
    await handle(harness, elsewhere);
    assert.equal((await outboxFor(harness, payload(elsewhere)['orderId'] as string))[0]!.destination, 'checkout-v2');

    const unaddressed = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()), { replyTo: null });
    assert.equal(unaddressed.replyTo, undefined);
    await handle(harness, unaddressed);
    assert.equal((await outboxFor(harness, payload(unaddressed)['orderId'] as string))[0]!.destination, 'orders');
  });

  it('books once when the same command comes twice, and answers the same both times', async () => {
    const { command, orderId, row } = await booked();
    await handle(harness, command);
    // A replayed dead letter: the same command in a new envelope.
    await handle(harness, { ...command, id: randomUUID() });
    assert.equal((await shipmentRows(harness, orderId)).length, 1);
    const replies = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.equal(replies.length, 3);
    for (const reply of replies) assert.deepEqual(reply.data, { orderId, outcome: 'succeeded', shipmentId: row.id, trackingNumber: row.tracking_number });
  });

  it('books once when two deliveries of one order race', async () => {
    const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()));
    const orderId = payload(command)['orderId'] as string;
    await Promise.all([handle(harness, command), handle(harness, { ...command, id: randomUUID() })]);
    const rows = await shipmentRows(harness, orderId);
    assert.equal(rows.length, 1);
    const replies = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.deepEqual(
      replies.map((r) => r.data),
      [0, 1].map(() => ({ orderId, outcome: 'succeeded', shipmentId: rows[0]!.id, trackingNumber: rows[0]!.tracking_number })),
    );
  });

  it('gives every shipment its own tracking number', async () => {
    const numbers = new Set<string>();
    for (let i = 0; i < 10; i++) numbers.add((await booked()).row.tracking_number!);
    assert.equal(numbers.size, 10);
  });

  it('refuses Antarctica: records the refusal and answers failed DESTINATION_UNSUPPORTED, the same every time', async () => {
    const { command, orderId, reply, row } = await booked('AQ');
    assert.equal(row.status, 'REJECTED');
    assert.equal(row.reject_code, 'DESTINATION_UNSUPPORTED');
    assert.equal(row.tracking_number, null);
    const refusal = { orderId, outcome: 'failed', code: 'DESTINATION_UNSUPPORTED', reason: 'We cannot deliver to Antarctica (AQ).' };
    assert.deepEqual(reply.data, refusal);

    await handle(harness, { ...command, id: randomUUID() });
    assert.equal((await shipmentRows(harness, orderId)).length, 1);
    const replies = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.equal(replies.length, 2);
    assert.deepEqual(replies[1]!.data, refusal);
  });

  it('refuses a code that is no country', async () => {
    const { reply, row } = await booked('XX');
    assert.equal(row.status, 'REJECTED');
    assert.equal((reply.data as Record<string, unknown>)['code'], 'DESTINATION_UNSUPPORTED');
  });

  it('writes in the transaction it is handed, so a rolled-back delivery leaves nothing', async () => {
    const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()));
    const orderId = payload(command)['orderId'] as string;
    const rollback = new Error('the inbox record failed after the handler');
    await assert.rejects(
      harness.db.transaction(async (tx) => {
        await harness.handlers['shipping.create-shipment.v1']!(command.data as never, { tx, envelope: command, outbox: harness.context.outbox, log: harness.context.log, attempt: 1 });
        throw rollback;
      }),
      rollback,
    );
    assert.deepEqual(await shipmentRows(harness, orderId), []);
    assert.deepEqual(await outboxFor(harness, orderId), []);
  });
});

describe('cancel-shipment', () => {
  const cancel = (orderId: string) => envelopeOf('shipping.cancel-shipment.v1', { orderId, reason: 'Your card was declined.' });
  const cancelReplies = async (orderId: string) => (await outboxFor(harness, orderId, 'shipping.cancel-shipment-result.v1')).map((r) => r.data);

  it('cancels a booked shipment, once', async () => {
    const { orderId } = await booked();
    await handle(harness, cancel(orderId));
    const [row] = await shipmentRows(harness, orderId);
    assert.equal(row!.status, 'CANCELLED');
    assert.ok(row!.cancelled_at);
    assert.match(row!.tracking_number!, /^BZ/, 'the cancelled booking keeps its tracking number');

    await handle(harness, cancel(orderId));
    const rows = await shipmentRows(harness, orderId);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.cancelled_at, row!.cancelled_at, 'cancelling again changes nothing');
    const replies = await outboxFor(harness, orderId, 'shipping.cancel-shipment-result.v1');
    assert.deepEqual(
      replies.map((r) => [r.destination, r.data]),
      [0, 1].map(() => ['orders', { orderId, outcome: 'succeeded' }]),
    );
  });

  it('refuses a booking the order replays after its cancellation: ORDER_CLOSED', async () => {
    const { command, orderId } = await booked();
    await handle(harness, cancel(orderId));
    await handle(harness, { ...command, id: randomUUID() });
    const replies = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.equal(replies.length, 2);
    assert.equal((replies[1]!.data as Record<string, unknown>)['outcome'], 'failed');
    assert.equal((replies[1]!.data as Record<string, unknown>)['code'], 'ORDER_CLOSED');
    assert.equal((await shipmentRows(harness, orderId))[0]!.status, 'CANCELLED');
  });

  it('records a tombstone for an order it never saw, so the late create-shipment is refused with ORDER_CLOSED', async () => {
    const orderId = randomUUID();
    await handle(harness, cancel(orderId));
    const [tombstone] = await shipmentRows(harness, orderId);
    assert.equal(tombstone!.status, 'CANCELLED');
    assert.equal(tombstone!.customer_id, null);
    assert.equal(tombstone!.address, null);
    assert.equal(tombstone!.tracking_number, null);
    assert.deepEqual(await cancelReplies(orderId), [{ orderId, outcome: 'succeeded' }]);

    // The create-shipment that was dead-lettered, replayed after the saga gave up.
    await handle(harness, envelopeOf('shipping.create-shipment.v1', createShipment(customerId(), { orderId })));
    const rows = await shipmentRows(harness, orderId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.status, 'CANCELLED', 'nothing was booked');
    assert.equal(rows[0]!.tracking_number, null);
    const [late] = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.equal((late!.data as Record<string, unknown>)['outcome'], 'failed');
    assert.equal((late!.data as Record<string, unknown>)['code'], 'ORDER_CLOSED');
    assert.ok((late!.data as Record<string, unknown>)['reason']);

    await handle(harness, cancel(orderId));
    assert.equal((await shipmentRows(harness, orderId)).length, 1, 'a second cancellation adds no second tombstone');
  });

  it('does nothing to a refused booking, and answers succeeded', async () => {
    const { orderId } = await booked('AQ');
    await handle(harness, cancel(orderId));
    assert.equal((await shipmentRows(harness, orderId))[0]!.status, 'REJECTED');
    assert.deepEqual(await cancelReplies(orderId), [{ orderId, outcome: 'succeeded' }]);
  });

  it('cannot call back a dispatched parcel: failed ALREADY_DISPATCHED', async () => {
    const { orderId, row } = await booked();
    await handle(harness, envelopeOf('orders.order-confirmed.v1', orderConfirmed(orderId, row.customer_id!)));
    await handle(harness, cancel(orderId));
    assert.equal((await shipmentRows(harness, orderId))[0]!.status, 'DISPATCHED');
    const [refusal] = (await cancelReplies(orderId)) as Array<Record<string, unknown>>;
    assert.equal(refusal!['outcome'], 'failed');
    assert.equal(refusal!['code'], 'ALREADY_DISPATCHED');
    assert.match(refusal!['reason'] as string, new RegExp(row.tracking_number!));
  });
});

describe('dispatch when the order is confirmed', () => {
  const confirmed = (orderId: string, customer: string) => envelopeOf('orders.order-confirmed.v1', orderConfirmed(orderId, customer));

  it('dispatches the booked shipment and announces it, exactly once', async () => {
    const { orderId, row } = await booked();
    const customer = row.customer_id!;
    await handle(harness, confirmed(orderId, customer));
    // A second delivery of the event under another envelope id (the inbox would not catch it).
    await handle(harness, confirmed(orderId, customer));

    const [dispatched] = await shipmentRows(harness, orderId);
    assert.equal(dispatched!.status, 'DISPATCHED');
    assert.ok(dispatched!.dispatched_at);
    const events = await outboxFor(harness, orderId, 'shipping.shipment-dispatched.v1');
    assert.equal(events.length, 1, 'one dispatch event for one order');
    assert.equal(events[0]!.key, orderId);
    assert.equal(events[0]!.destination, undefined, 'an event is broadcast');
    assert.deepEqual(events[0]!.data, {
      orderId,
      customerId: customer,
      shipmentId: row.id,
      trackingNumber: row.tracking_number,
      dispatchedAt: dispatched!.dispatched_at!.toISOString(),
    });
  });

  it('keeps answering create-shipment with the booking after dispatch', async () => {
    const { command, orderId, row } = await booked();
    await handle(harness, confirmed(orderId, row.customer_id!));
    await handle(harness, { ...command, id: randomUUID() });
    const replies = await outboxFor(harness, orderId, 'shipping.create-shipment-result.v1');
    assert.deepEqual(replies[1]!.data, { orderId, outcome: 'succeeded', shipmentId: row.id, trackingNumber: row.tracking_number });
  });

  it('does nothing, without failing, for an order with no shipment or a cancelled or refused one', async () => {
    const unknown = randomUUID();
    await handle(harness, confirmed(unknown, randomUUID()));
    assert.deepEqual(await shipmentRows(harness, unknown), []);
    assert.deepEqual(await outboxFor(harness, unknown), []);

    const cancelledOrder = (await booked()).orderId;
    await handle(harness, envelopeOf('shipping.cancel-shipment.v1', { orderId: cancelledOrder, reason: 'Timed out.' }));
    const refused = await booked('AQ');
    for (const { orderId, status } of [
      { orderId: cancelledOrder, status: 'CANCELLED' },
      { orderId: refused.orderId, status: 'REJECTED' },
    ]) {
      await handle(harness, confirmed(orderId, randomUUID()));
      assert.equal((await shipmentRows(harness, orderId))[0]!.status, status);
      assert.deepEqual(await outboxFor(harness, orderId, 'shipping.shipment-dispatched.v1'), []);
    }
  });
});

describe('tracking numbers that collide', () => {
  /** Runs create-shipment with handlers whose carrier draws `draws` in turn. */
  function createWith(draws: string[], command: Envelope) {
    const handler = shippingHandlers({ trackingNumber: () => draws.shift() ?? 'BZ000000000000' })['shipping.create-shipment.v1']!;
    return harness.db.transaction((tx) => handler(command.data as never, { tx, envelope: command, outbox: harness.context.outbox, log: harness.context.log, attempt: 1 }));
  }

  it('draw again when the number is already in use', async () => {
    const taken = (await booked()).row.tracking_number!;
    const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()));
    const orderId = payload(command)['orderId'] as string;
    await createWith([taken, 'BZFRESH0000001'], command);
    const [row] = await shipmentRows(harness, orderId);
    assert.equal(row!.tracking_number, 'BZFRESH0000001');
    assert.equal(((await outboxFor(harness, orderId))[0]!.data as Record<string, unknown>)['trackingNumber'], 'BZFRESH0000001');
  });

  it('fail technically (the consumer retries) rather than answer when no free number comes up', async () => {
    const taken = (await booked()).row.tracking_number!;
    const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()));
    const orderId = payload(command)['orderId'] as string;
    await assert.rejects(createWith(Array.from({ length: 10 }, () => taken), command), /could not record a shipment/);
    assert.deepEqual(await shipmentRows(harness, orderId), []);
    assert.deepEqual(await outboxFor(harness, orderId), []);
  });
});

describe('the shipments table', () => {
  it('refuses a second shipment with a tracking number already in use (the booking then draws another)', async () => {
    const { row } = await booked();
    const shipments = new ShipmentRepository(harness.db);
    const orderId = randomUUID();
    const clash = await shipments.insert({
      orderId,
      customerId: randomUUID(),
      status: 'BOOKED',
      trackingNumber: row.tracking_number,
      carrier: CARRIER,
      address: { name: 'A', line1: 'B', city: 'C', postalCode: 'D', country: 'GB' },
      lines: [{ productId: randomUUID(), quantity: 1 }],
    });
    assert.equal(clash, undefined);
    assert.deepEqual(await shipmentRows(harness, orderId), []);
  });
});

describe('through the broker', () => {
  it('books the shipment of a command orders publishes, and the reply leaves for orders', async () => {
    const command = envelopeOf('shipping.create-shipment.v1', createShipment(customerId()));
    const orderId = payload(command)['orderId'] as string;
    await broker.publish([command]);
    const row = await eventually(async () => (await shipmentRows(harness, orderId))[0], 'the shipment row');
    assert.equal(row.status, 'BOOKED');
    const published = await eventually(async () => {
      const { rows } = await harness.db.query<{ published_at: Date | null }>('SELECT published_at FROM outbox WHERE key = $1', [orderId]);
      return rows[0]?.published_at ?? undefined;
    }, 'the reply to be published');
    assert.ok(published);
  });
});

describe('dead letters', () => {
  it('keeps the dead-letter admin routes under its prefix, for admins only', async () => {
    const admin = await newCustomer(harness, ['customer', 'admin']);
    const customer = await newCustomer(harness);
    assert.equal((await harness.app.inject({ url: '/api/shipments/admin/dlq', headers: auth(admin.token) })).statusCode, 200);
    assert.equal((await harness.app.inject({ url: '/api/shipments/admin/dlq', headers: auth(customer.token) })).statusCode, 403);
  });
});
