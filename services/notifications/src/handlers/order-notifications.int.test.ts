import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database, EmbeddedBroker, MessageHandlers, ServiceApp, ServiceContext } from '@bazaar/chassis';
import type { Envelope } from '@bazaar/contracts/messages';
import { messageFlows } from '@bazaar/topology';
import { eventually } from '@bazaar/runtime/testing/eventually';
import type { TestTokens } from '@bazaar/runtime/testing/tokens';
import { handle as handleMessage, serviceHarness, type ServiceHarness } from '@bazaar/runtime/testing/service-harness';
import { notificationsService } from '../app.ts';
import { orderCancelled, orderConfirmed, paymentRefunded, republished, shipmentDispatched, userRegistered } from '../testing/events.ts';

let harness: ServiceHarness;
let app: ServiceApp;
let context: ServiceContext;
let db: Database;
let broker: EmbeddedBroker;
let tokens: TestTokens;
let handlers: MessageHandlers;

after(() => harness?.close());

before(async () => {
  // No SMTP_URL: notifications are kept in the inbox only.
  harness = await serviceHarness(notificationsService, { label: 'notifications_orders', embeddedBroker: { pollMs: 100, flows: messageFlows() }, onStart: true });
  ({ app, context, db, tokens, handlers } = harness);
  broker = harness.broker!;
});

/** Runs the envelope's handler as the consumer does: in one transaction (here without the inbox). */
const handle = (envelope: Envelope): Promise<void> => handleMessage(harness, envelope);

/** A registered customer and a token for them. */
async function registeredCustomer(name = 'Ada Lovelace') {
  const userId = randomUUID();
  const customer = { userId, email: `${userId.slice(0, 8)}@example.com`, name };
  await handle(userRegistered(customer));
  return { ...customer, token: await tokens.issue({ userId, email: customer.email, roles: ['customer'] }) };
}

async function inbox(token: string): Promise<Array<Record<string, unknown>>> {
  const res = await app.inject({ url: '/api/notifications?pageSize=100', headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().items;
}

/** What the invariant checker counts: notifications per order and kind. */
async function countsOf(orderId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ kind: string; n: number }>('SELECT kind, count(*)::int AS n FROM notifications WHERE order_id = $1 GROUP BY kind', [orderId]);
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}

const events = [
  { kind: 'order-confirmed', of: orderConfirmed, subject: 'Your order is confirmed', says: 'Total: €25.00' },
  { kind: 'order-cancelled', of: orderCancelled, subject: 'Your order was cancelled', says: 'Why: Your card was declined by the bank.' },
  { kind: 'shipment-dispatched', of: shipmentDispatched, subject: 'Your order is on its way', says: 'Tracking number: BZ000123456' },
  { kind: 'refund-issued', of: paymentRefunded, subject: 'Your refund of €25.00 is on its way', says: 'We have refunded €25.00' },
] as const;

describe('telling customers about their orders', () => {
  for (const event of events) {
    it(`${event.kind}: one notification in the customer's inbox`, async () => {
      const ada = await registeredCustomer();
      const orderId = randomUUID();
      await handle(event.of(orderId, ada.userId));
      const about = (await inbox(ada.token)).filter((n) => n['orderId'] === orderId);
      assert.equal(about.length, 1);
      const notification = about[0]!;
      assert.equal(notification['kind'], event.kind);
      assert.equal(notification['subject'], event.subject);
      assert.ok((notification['body'] as string).includes(event.says), notification['body'] as string);
      assert.match(notification['body'] as string, /^Hi Ada Lovelace,/, 'written to the registered name');
      assert.equal(notification['channel'], 'inbox', 'without SMTP_URL the inbox only');
      assert.equal(notification['delivery'], null);
      assert.deepEqual(await countsOf(orderId), { [event.kind]: 1 });
    });

    it(`${event.kind}: once, however often the event is redelivered or republished`, async () => {
      const grace = await registeredCustomer('Grace Hopper');
      const orderId = randomUUID();
      const first = event.of(orderId, grace.userId);
      await handle(first);
      await handle(first); // redelivered (past the inbox)
      await handle(republished(first)); // the same event under a new message id
      await handle(event.of(orderId, grace.userId)); // built again by its publisher
      assert.deepEqual(await countsOf(orderId), { [event.kind]: 1 });
      assert.equal((await inbox(grace.token)).filter((n) => n['orderId'] === orderId).length, 1);
    });
  }

  it('keeps each kind of news about one order apart: a cancelled order still hears of its refund', async () => {
    const alan = await registeredCustomer('Alan Turing');
    const orderId = randomUUID();
    await handle(orderCancelled(orderId, alan.userId));
    await handle(paymentRefunded(orderId, alan.userId));
    assert.deepEqual(await countsOf(orderId), { 'order-cancelled': 1, 'refund-issued': 1 });
  });

  it('notifies a customer whose registration has not arrived, in the inbox, without a name', async () => {
    const customerId = randomUUID();
    const orderId = randomUUID();
    await handle(orderConfirmed(orderId, customerId));
    const notifications = await inbox(await tokens.issue({ userId: customerId, roles: ['customer'] }));
    assert.equal(notifications.length, 1);
    assert.equal(notifications[0]!['channel'], 'inbox');
    assert.match(notifications[0]!['body'] as string, /^Hello,/);
  });

  it('writes in the transaction it is handed, so a rolled-back delivery leaves nothing', async () => {
    const edsger = await registeredCustomer('Edsger Dijkstra');
    const orderId = randomUUID();
    const envelope = orderConfirmed(orderId, edsger.userId);
    const rollback = new Error('the inbox record failed after the handler');
    await assert.rejects(
      db.transaction(async (tx) => {
        await handlers['orders.order-confirmed.v1']!(envelope.data as never, { tx, envelope, outbox: context.outbox, log: context.log, attempt: 1 });
        throw rollback;
      }),
      rollback,
    );
    assert.deepEqual(await countsOf(orderId), {});
    await handle(envelope);
    assert.deepEqual(await countsOf(orderId), { 'order-confirmed': 1 }, 'the redelivery after the rollback notifies');
  });

  it('guards one notification per event in the database itself (dedupe_key)', async () => {
    const barbara = await registeredCustomer('Barbara Liskov');
    const orderId = randomUUID();
    await handle(orderConfirmed(orderId, barbara.userId));
    await assert.rejects(
      db.query(
        `INSERT INTO notifications (id, recipient_id, channel, kind, subject, body, source_message_id, dedupe_key, order_id)
         SELECT $1, recipient_id, channel, kind, subject, body, $2, dedupe_key, order_id FROM notifications WHERE order_id = $3`,
        [randomUUID(), randomUUID(), orderId],
      ),
      (error: { code?: string; constraint?: string }) => error.code === '23505' && error.constraint === 'notifications_once_per_event',
    );
  });

  it('arrives through the broker, and a republished event is absorbed', async () => {
    const katherine = await registeredCustomer('Katherine Johnson');
    const orderId = randomUUID();
    const confirmed = orderConfirmed(orderId, katherine.userId);
    await broker.publish([confirmed]);
    await eventually(async () => (await inbox(katherine.token)).find((n) => n['orderId'] === orderId), 'the order confirmation');
    const handledBefore = await consumed('orders.order-confirmed.v1', 'handled');
    await broker.publish([republished(confirmed)]);
    await eventually(async () => ((await consumed('orders.order-confirmed.v1', 'handled')) > handledBefore ? true : undefined), 'the republished event to be handled');
    assert.deepEqual(await countsOf(orderId), { 'order-confirmed': 1 });
  });
});

describe('recipients', () => {
  it('are recorded from registrations, with the welcome message', async () => {
    const ada = await registeredCustomer('Ada Lovelace');
    const { rows } = await db.query('SELECT email, name FROM recipients WHERE user_id = $1', [ada.userId]);
    assert.deepEqual(rows, [{ email: ada.email, name: 'Ada Lovelace' }]);
    const welcome = (await inbox(ada.token)).filter((n) => n['kind'] === 'welcome');
    assert.equal(welcome.length, 1);
    assert.equal(welcome[0]!['channel'], 'inbox');
    assert.equal(welcome[0]!['orderId'], null);
  });

  it('welcome a customer once, even when the registration is republished under a new id', async () => {
    const userId = randomUUID();
    const registration = userRegistered({ userId, email: `${userId.slice(0, 8)}@example.com`, name: 'Grace Hopper' });
    await handle(registration);
    await handle(republished(registration));
    const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM notifications WHERE recipient_id = $1 AND kind = 'welcome'", [userId]);
    assert.equal(rows[0]!.n, 1);
  });
});

/** How many deliveries of `message` the consumer settled with `outcome` (its Prometheus counter). */
async function consumed(message: string, outcome: string): Promise<number> {
  const res = await app.inject({ url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith('messages_consumed_total{') && l.includes(`message="${message}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
