/**
 * Checkout through the gateway of the running system (`npm start`'s launcher,
 * every service its own process), on each broker: orders confirm or cancel with a
 * reason, stock, money and shipments stay exact, and the invariant checker agrees.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { NatsBroker } from '@bazaar/chassis';
import { freePort } from '@bazaar/runtime/ports';
import { startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { cards, invariantsHold, newCustomer, newProduct, openShop, orderBody, passes, placeOrder, settled, stockOf, type Shop } from './fixtures/checkout.ts';

const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

for (const broker of ['embedded', 'nats'] as const) {
  describe(`checkout through the gateway, ${broker} broker`, () => {
    let system: RunningSystem;
    let stateDir: string;
    let shop: Shop;
    const prefix = `co${randomUUID().slice(0, 8)}`;
    const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };

    before(async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-checkout-'));
      system = await startSystem(stateDir, await freePort(), {
        args: broker === 'nats' ? ['--broker', NATS_URL] : [],
        env: { BROKER_PREFIX: prefix, BAZAAR_ADMIN_EMAIL: admin.email, BAZAAR_ADMIN_PASSWORD: admin.password },
      });
      shop = await openShop(system, admin);
    });

    after(async () => {
      if (system) await stopSystem(system);
      await rm(stateDir, { recursive: true, force: true });
      if (broker === 'nats') {
        const nats = new NatsBroker(NATS_URL, { prefix });
        await nats.deleteStreams().finally(() => nats.close());
      }
    });

    it('approves: CONFIRMED, payment captured, shipment dispatched, stock sold, customer notified', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 5, 1250);
      const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 2 }]);
      assert.equal(placed.status, 202, placed.text);
      assert.equal(placed.body.status, 'PENDING');
      const order = await settled(shop, buyer.token, placed.body.id);
      assert.equal(order.status, 'CONFIRMED', JSON.stringify(order));
      assert.deepEqual(order.total, { amount: 2500, currency: 'EUR' });
      assert.match(order.trackingNumber, /^BZ/);
      assert.deepEqual(await stockOf(shop, product), { onHand: 3, reserved: 0, available: 3 });
      const payments = await shop.api(`/api/payments?orderId=${order.id}`, { token: buyer.token });
      assert.equal(payments.status, 200, payments.text);
      assert.deepEqual(payments.body.items.map((p: { status: string; amount: unknown }) => [p.status, p.amount]), [['CAPTURED', { amount: 2500, currency: 'EUR' }]]);
      await passes(async () => {
        const shipments = await shop.api(`/api/shipments?orderId=${order.id}`, { token: buyer.token });
        assert.deepEqual(shipments.body.items.map((s: { status: string }) => s.status), ['DISPATCHED']);
        const inbox = await shop.api('/api/notifications', { token: buyer.token });
        const kinds = inbox.body.items.map((n: { kind: string }) => n.kind).sort();
        assert.deepEqual(kinds, ['order-confirmed', 'shipment-dispatched', 'welcome']);
      });
      const list = await shop.api('/api/orders', { token: buyer.token });
      assert.deepEqual(list.body.items.map((o: { id: string }) => o.id), [order.id]);
    });

    it('declines: CANCELLED with the reason, stock restored, nothing charged', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 4);
      for (const [card, code] of [
        [cards.decline, 'CARD_DECLINED'],
        [cards.insufficientFunds, 'INSUFFICIENT_FUNDS'],
      ] as const) {
        const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 3 }], { card });
        assert.equal(placed.status, 202, placed.text);
        const order = await settled(shop, buyer.token, placed.body.id);
        assert.equal(order.status, 'CANCELLED');
        assert.equal(order.code, code);
        assert.ok(order.reason.length > 0);
        assert.deepEqual(await stockOf(shop, product), { onHand: 4, reserved: 0, available: 4 });
        const payments = await shop.api(`/api/payments?orderId=${order.id}`, { token: buyer.token });
        assert.deepEqual(payments.body.items.map((p: { status: string }) => p.status), ['DECLINED']);
      }
      await passes(async () => {
        const inbox = await shop.api('/api/notifications', { token: buyer.token });
        const cancelled = inbox.body.items.filter((n: { kind: string }) => n.kind === 'order-cancelled');
        assert.equal(cancelled.length, 2);
      });
    });

    it('a transient processor failure is retried and the order confirms', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 2);
      const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { card: cards.transient });
      assert.equal((await settled(shop, buyer.token, placed.body.id)).status, 'CONFIRMED');
    });

    it('an unsupported destination after authorization: payment voided, stock restored', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 3);
      const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { country: 'AQ' });
      const order = await settled(shop, buyer.token, placed.body.id);
      assert.equal(order.status, 'CANCELLED');
      assert.equal(order.code, 'DESTINATION_UNSUPPORTED');
      assert.deepEqual(await stockOf(shop, product), { onHand: 3, reserved: 0, available: 3 });
      const payments = await shop.api(`/api/payments?orderId=${order.id}`, { token: buyer.token });
      assert.deepEqual(payments.body.items.map((p: { status: string }) => p.status), ['VOIDED']);
    });

    it('the customer cancels while the payment is slow: voided, released, CANCELLED', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 3);
      const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { card: cards.slow });
      await passes(async () => {
        const order = await shop.api(`/api/orders/${placed.body.id}`, { token: buyer.token });
        assert.ok(order.body.timeline.some((t: { event: string }) => t.event === 'reserve-stock: done'));
      });
      const cancel = await shop.api(`/api/orders/${placed.body.id}/cancel`, { method: 'POST', token: buyer.token });
      assert.equal(cancel.status, 202, cancel.text);
      const order = await settled(shop, buyer.token, placed.body.id);
      assert.equal(order.status, 'CANCELLED');
      assert.equal(order.code, 'CANCELLED_BY_CUSTOMER');
      await passes(async () => {
        const payments = await shop.api(`/api/payments?orderId=${order.id}`, { token: buyer.token });
        assert.deepEqual(payments.body.items.map((p: { status: string }) => p.status), ['VOIDED']);
      });
      assert.deepEqual(await stockOf(shop, product), { onHand: 3, reserved: 0, available: 3 });
      const again = await shop.api(`/api/orders/${order.id}/cancel`, { method: 'POST', token: buyer.token });
      assert.equal(again.status, 202, 'cancelling a cancelled order is a no-op');
    });

    it('concurrent orders for the last unit: exactly one wins', async () => {
      const product = await newProduct(shop, 1);
      const buyers = await Promise.all([1, 2, 3, 4].map(() => newCustomer(shop)));
      const placed = await Promise.all(buyers.map((b) => placeOrder(shop, b.token, [{ productId: product, quantity: 1 }])));
      for (const p of placed) assert.equal(p.status, 202, p.text);
      const orders = await Promise.all(placed.map((p, i) => settled(shop, buyers[i]!.token, p.body.id)));
      assert.deepEqual(orders.map((o) => o.status).sort(), ['CANCELLED', 'CANCELLED', 'CANCELLED', 'CONFIRMED']);
      for (const o of orders.filter((o) => o.status === 'CANCELLED')) assert.equal(o.code, 'OUT_OF_STOCK');
      assert.deepEqual(await stockOf(shop, product), { onHand: 0, reserved: 0, available: 0 });
    });

    it('the same Idempotency-Key twice at once places one order; with another body it is refused', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 5);
      const key = randomUUID();
      const [a, b] = await Promise.all([1, 2].map(() => placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { key })));
      assert.equal(a!.status, 202, a!.text);
      assert.equal(b!.status, 202, b!.text);
      assert.equal(a!.body.id, b!.body.id);
      const other = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 2 }], { key });
      assert.equal(other.status, 422);
      assert.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED');
      await settled(shop, buyer.token, a!.body.id);
      const list = await shop.api('/api/orders', { token: buyer.token });
      assert.equal(list.body.total, 1);
    });

    it('streams status changes over server-sent events through the gateway', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 2);
      const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { card: cards.slow });
      const response = await request(`${system.gateway}/api/orders/${placed.body.id}/events`, { headers: { authorization: `Bearer ${buyer.token}` } });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /text\/event-stream/);
      const text = await response.body.text(); // the stream ends once the order is final
      const statuses = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).status);
      assert.equal(statuses[0], 'PENDING');
      assert.equal(statuses.at(-1), 'CONFIRMED');
    });

    it('refuses bad orders with clear problems', async () => {
      const buyer = await newCustomer(shop);
      const product = await newProduct(shop, 1);
      const unknown = await placeOrder(shop, buyer.token, [{ productId: randomUUID(), quantity: 1 }]);
      assert.equal(unknown.status, 422);
      assert.equal(unknown.body.code, 'PRODUCT_UNAVAILABLE');
      const badCard = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }], { card: '4242424242424241' });
      assert.equal(badCard.status, 422, badCard.text);
      assert.equal(badCard.body.code, 'CARD_INVALID');
      const noKey = await shop.api('/api/orders', { method: 'POST', token: buyer.token, json: orderBody([{ productId: product, quantity: 1 }]) });
      assert.equal(noKey.status, 400);
      assert.equal(noKey.body.code, 'IDEMPOTENCY_KEY_REQUIRED');
      const anonymous = await shop.api('/api/orders', { method: 'POST', json: orderBody([{ productId: product, quantity: 1 }]) });
      assert.equal(anonymous.status, 401);
    });

    it('leaves every invariant holding', async () => {
      const report = await invariantsHold(stateDir);
      assert.ok(report.orders.confirmed >= 5);
    });
  });
}
