import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Database, type EmbeddedBroker, type MessageHandler, type MessageHandlers, type ServiceContext } from '@bazaar/chassis';
import { checkMessage, parseMessageName, type Envelope, type MessageData } from '@bazaar/contracts/messages';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { serviceHarness, type ServiceHarness } from '@bazaar/runtime/testing/service-harness';
import { catalogService } from '../app.ts';
import { InventoryModel, stockViolations } from '../domain/inventory-model.ts';
import { ProductRepository } from '../persistence/product-repository.ts';
import { sweepExpiredReservations } from '../reservation-sweeper.ts';
import { inventoryCommand, type InventoryCommand } from '../testing/inventory-commands.ts';
import { readLedgers } from '../testing/inventory-ledger.ts';

type Command = 'catalog.reserve-stock.v1' | 'catalog.commit-stock.v1' | 'catalog.release-stock.v1';
type Reply = { outcome: 'succeeded' | 'failed'; code?: string; reason?: string };

let context: ServiceContext;
let db: Database;
let wide: Database;
let broker: EmbeddedBroker;
let handlers: MessageHandlers;
let products: ProductRepository;

let harness: ServiceHarness;
let cleanup = async () => {};
after(() => cleanup());

before(async () => {
  harness = await serviceHarness(catalogService, {
    label: 'catalog_reservations',
    embeddedBroker: { pollMs: 100, flows: { groups: { catalog: ['catalog.reserve-stock.v1', 'catalog.commit-stock.v1', 'catalog.release-stock.v1'] } } },
  });
  ({ context, db, handlers } = harness);
  broker = harness.broker!;
  // Enough connections for twenty transactions at once, as twenty consumers would run them.
  wide = new Database({ connectionString: harness.url, applicationName: 'test-catalog-concurrency', max: 24 });
  cleanup = async () => {
    await wide.pool.end();
    await harness.close();
  };
  products = new ProductRepository(db, context.outbox);
  await db.query(`INSERT INTO categories (slug, name) VALUES ('mugs', 'Mugs')`);
});

// Whatever a test did, the inventory of every product still adds up.
afterEach(async () => {
  for (const [id, ledger] of await readLedgers(db)) assert.deepEqual(stockViolations(ledger), [], `product ${id}: ${JSON.stringify(ledger)}`);
});

let skus = 0;
async function newProduct(name: string, onHand: number): Promise<string> {
  const product = await products.create({ sku: `MUG-${++skus}`, name, description: '', price: { amount: 1200, currency: 'EUR' }, category: 'mugs', images: [], active: true, onHand }, 'tester');
  return product.id;
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

/** The envelope orders' saga writes for `name`. */
function envelopeOf<N extends Command>(name: N, data: MessageData<N>): Envelope {
  const { type, version } = parseMessageName(name);
  const envelope: Envelope = {
    id: randomUUID(),
    type,
    version,
    time: new Date().toISOString(),
    key: data.orderId,
    correlationId: randomUUID(),
    causationId: null,
    destination: 'catalog',
    replyTo: 'orders',
    data,
  };
  const checked = checkMessage(envelope);
  assert.ok(checked.ok, `the test envelope matches its contract: ${JSON.stringify(checked)}`);
  return envelope;
}

/** Runs the handler as the consumer does (one transaction) and returns the reply it wrote to the outbox. */
async function handle<N extends Command>(name: N, data: MessageData<N>, database: Database = db): Promise<Reply> {
  const envelope = envelopeOf(name, data);
  const handler = handlers[name] as MessageHandler<N>;
  const { rows: last } = await database.query<{ seq: string }>('SELECT coalesce(max(seq), 0) AS seq FROM outbox');
  await database.transaction((tx) => handler(data, { tx, envelope, outbox: context.outbox, log: context.log, attempt: 1 }));
  const replyName = name.replace(/\.v1$/, '-result.v1');
  const { rows } = await database.query<{ body: string }>('SELECT body FROM outbox WHERE message_name = $1 AND key = $2 AND seq > $3 ORDER BY seq', [replyName, data.orderId, last[0]!.seq]);
  assert.equal(rows.length, 1, `one ${replyName} for order ${data.orderId}`);
  const reply = JSON.parse(rows[0]!.body) as Envelope;
  assert.equal(reply.destination, 'orders', 'the reply goes where the command said');
  const { orderId, ...answer } = reply.data as Reply & { orderId: string };
  assert.equal(orderId, data.orderId);
  return answer;
}

const reserve = (orderId: string, lines: Array<{ productId: string; quantity: number }>, expiresAt = inAnHour(), database?: Database) =>
  handle('catalog.reserve-stock.v1', { orderId, lines, expiresAt }, database);
const commit = (orderId: string) => handle('catalog.commit-stock.v1', { orderId });
const release = (orderId: string) => handle('catalog.release-stock.v1', { orderId, reason: 'The payment was declined.' });

async function stock(productId: string): Promise<{ onHand: number; reserved: number; sold: number; available: number }> {
  const { rows } = await db.query<{ on_hand: number; reserved: number; sold: number }>('SELECT on_hand, reserved, sold FROM products WHERE id = $1', [productId]);
  const row = rows[0]!;
  return { onHand: row.on_hand, reserved: row.reserved, sold: row.sold, available: row.on_hand - row.reserved };
}

async function status(orderId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>('SELECT status FROM reservations WHERE order_id = $1', [orderId]);
  return rows[0]?.status;
}

/** The stock-changed events written for `productId`, oldest first. */
async function stockEvents(productId: string): Promise<Array<{ onHand: number; reserved: number; available: number; reason: string; version: number }>> {
  const { rows } = await db.query<{ body: string }>(`SELECT body FROM outbox WHERE message_name = 'catalog.stock-changed.v1' AND key = $1 ORDER BY seq`, [productId]);
  return rows.map((r) => JSON.parse(r.body).data);
}

/** Makes `orderId`'s hold due now, and runs one sweep; returns what it expired. */
async function expireNow(orderId: string, database: Database = db): Promise<string[]> {
  await database.query(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = $1`, [orderId]);
  return sweepExpiredReservations({ db: database, outbox: context.outbox, log: context.log });
}

describe('reserving stock', () => {
  it('holds every line of an order, summing repeated products, and announces the new stock', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const lamp = await newProduct('Desk Lamp', 3);
    const order = randomUUID();
    const reply = await reserve(order, [
      { productId: mug, quantity: 2 },
      { productId: lamp, quantity: 3 },
      { productId: mug, quantity: 1 },
    ]);
    assert.deepEqual(reply, { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 3, sold: 0, available: 2 });
    assert.deepEqual(await stock(lamp), { onHand: 3, reserved: 3, sold: 0, available: 0 });
    assert.equal(await status(order), 'RESERVED');
    const [initial, reserved] = await stockEvents(mug);
    assert.equal(initial!.reason, 'initial stock');
    assert.deepEqual({ ...reserved, version: undefined }, { productId: mug, onHand: 5, reserved: 3, available: 2, reason: `reserved for order ${order}`, version: undefined });
    assert.ok(reserved!.version > initial!.version, 'a newer version than the last announcement');
  });

  it('reserves nothing when one line is short, says which product in words, and records the refusal', async () => {
    const lamp = await newProduct('Desk Lamp', 9);
    const mug = await newProduct('Blue Mug', 2);
    const order = randomUUID();
    const lines = [
      { productId: lamp, quantity: 4 },
      { productId: mug, quantity: 3 },
    ];
    const reply = await reserve(order, lines);
    assert.deepEqual(reply, { outcome: 'failed', code: 'OUT_OF_STOCK', reason: 'Only 2 of "Blue Mug" left.' });
    assert.deepEqual(await stock(lamp), { onHand: 9, reserved: 0, sold: 0, available: 9 }, 'the line that fit is not held either');
    assert.equal(await status(order), 'REJECTED');
    assert.equal((await stockEvents(lamp)).length, 1, 'only the initial stock was announced');
    // A redelivery answers the same, even once stock has arrived.
    await products.adjustStock(mug, 10, 'delivery', 'tester');
    assert.deepEqual(await reserve(order, lines), reply);
    assert.deepEqual(await stock(lamp), { onHand: 9, reserved: 0, sold: 0, available: 9 });
  });

  it('refuses unknown and withdrawn products as unavailable', async () => {
    const withdrawn = await newProduct('Old Mug', 10);
    await products.update(withdrawn, { active: false });
    const unknown = await reserve(randomUUID(), [{ productId: randomUUID(), quantity: 1 }]);
    assert.equal(unknown.outcome, 'failed');
    assert.equal(unknown.code, 'PRODUCT_UNAVAILABLE');
    const inactive = await reserve(randomUUID(), [{ productId: withdrawn, quantity: 1 }]);
    assert.deepEqual(inactive, { outcome: 'failed', code: 'PRODUCT_UNAVAILABLE', reason: '"Old Mug" is no longer for sale.' });
    assert.equal((await stock(withdrawn)).reserved, 0);
  });

  it('holds the stock once when the same reserve is handled twice', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const order = randomUUID();
    assert.deepEqual(await reserve(order, [{ productId: mug, quantity: 2 }]), { outcome: 'succeeded' });
    assert.deepEqual(await reserve(order, [{ productId: mug, quantity: 2 }]), { outcome: 'succeeded' });
    assert.equal((await stock(mug)).reserved, 2);
  });

  it('sells the last unit to exactly one of twenty orders reserving it at once', async () => {
    const mug = await newProduct('Last Mug', 1);
    const orders = Array.from({ length: 20 }, () => randomUUID());
    const replies = await Promise.all(orders.map((order) => reserve(order, [{ productId: mug, quantity: 1 }], inAnHour(), wide)));
    assert.equal(replies.filter((r) => r.outcome === 'succeeded').length, 1);
    const refusals = replies.filter((r) => r.outcome === 'failed');
    assert.equal(refusals.length, 19);
    assert.ok(refusals.every((r) => r.code === 'OUT_OF_STOCK' && r.reason === '"Last Mug" is out of stock.'));
    assert.deepEqual(await stock(mug), { onHand: 1, reserved: 1, sold: 0, available: 0 });
    const { rows } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM reservations WHERE order_id = ANY($1::uuid[]) GROUP BY status ORDER BY status', [orders]);
    assert.deepEqual(rows, [
      { status: 'REJECTED', n: 19 },
      { status: 'RESERVED', n: 1 },
    ]);
  });

  it('never deadlocks when concurrent orders name the same products in opposite orders', async () => {
    const a = await newProduct('Mug A', 10);
    const b = await newProduct('Mug B', 10);
    const replies = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const lines = [
          { productId: a, quantity: 1 },
          { productId: b, quantity: 1 },
        ];
        return reserve(randomUUID(), i % 2 ? lines : lines.reverse(), inAnHour(), wide);
      }),
    );
    assert.equal(replies.filter((r) => r.outcome === 'succeeded').length, 10);
    assert.deepEqual([(await stock(a)).available, (await stock(b)).available], [0, 0]);
  });

  it('arrives through the broker: the saga\'s command is consumed and answered', async () => {
    const mug = await newProduct('Brokered Mug', 3);
    const order = randomUUID();
    await broker.publish([envelopeOf('catalog.reserve-stock.v1', { orderId: order, lines: [{ productId: mug, quantity: 2 }], expiresAt: inAnHour() })]);
    await eventually(async () => ((await status(order)) === 'RESERVED' ? true : undefined), 'the reservation');
    const { rows } = await db.query<{ body: string }>(`SELECT body FROM outbox WHERE message_name = 'catalog.reserve-stock-result.v1' AND key = $1`, [order]);
    assert.equal(JSON.parse(rows[0]!.body).data.outcome, 'succeeded');
  });
});

describe('committing and releasing', () => {
  it('commits held units as sold, once', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const order = randomUUID();
    await reserve(order, [{ productId: mug, quantity: 2 }]);
    assert.deepEqual(await commit(order), { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 3, reserved: 0, sold: 2, available: 3 });
    assert.equal(await status(order), 'COMMITTED');
    assert.deepEqual(await commit(order), { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 3, reserved: 0, sold: 2, available: 3 }, 'a repeated commit sells nothing more');
    assert.equal((await stockEvents(mug)).at(-1)!.reason, `sold to order ${order}`);
  });

  it('refuses to commit an order it holds nothing for', async () => {
    const mug = await newProduct('Blue Mug', 1);
    const rejected = randomUUID();
    await reserve(rejected, [{ productId: mug, quantity: 2 }]);
    for (const order of [randomUUID(), rejected]) {
      const reply = await commit(order);
      assert.equal(reply.outcome, 'failed');
      assert.equal(reply.code, 'ORDER_CLOSED');
    }
    assert.deepEqual(await stock(mug), { onHand: 1, reserved: 0, sold: 0, available: 1 });
  });

  it('releases held units, and takes sold units back, always succeeding', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const held = randomUUID();
    const sold = randomUUID();
    await reserve(held, [{ productId: mug, quantity: 2 }]);
    await reserve(sold, [{ productId: mug, quantity: 1 }]);
    await commit(sold);
    assert.deepEqual(await stock(mug), { onHand: 4, reserved: 2, sold: 1, available: 2 });
    assert.deepEqual(await release(held), { outcome: 'succeeded' });
    assert.deepEqual(await release(sold), { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 0, sold: 0, available: 5 });
    assert.deepEqual([await status(held), await status(sold)], ['RELEASED', 'RELEASED']);
    assert.deepEqual(await release(held), { outcome: 'succeeded' });
    assert.deepEqual(await commit(held), { outcome: 'failed', code: 'ORDER_CLOSED', reason: 'The order was closed; its stock is no longer held.' });
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 0, sold: 0, available: 5 }, 'releasing again gives nothing back twice');
  });

  it('leaves a tombstone for an order it never saw, so a late reserve is refused', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const order = randomUUID();
    assert.deepEqual(await release(order), { outcome: 'succeeded' });
    assert.equal(await status(order), 'RELEASED');
    const late = await reserve(order, [{ productId: mug, quantity: 1 }]);
    assert.equal(late.outcome, 'failed');
    assert.equal(late.code, 'ORDER_CLOSED');
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 0, sold: 0, available: 5 });
  });
});

describe('expiry', () => {
  it('expires a lapsed hold, gives its stock back and announces it; holds not yet due stay', async () => {
    const mug = await newProduct('Blue Mug', 5);
    const lapsed = randomUUID();
    const current = randomUUID();
    await reserve(lapsed, [{ productId: mug, quantity: 2 }]);
    await reserve(current, [{ productId: mug, quantity: 1 }]);
    assert.deepEqual(await expireNow(lapsed), [lapsed]);
    assert.deepEqual([await status(lapsed), await status(current)], ['EXPIRED', 'RESERVED']);
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 1, sold: 0, available: 4 });
    assert.equal((await stockEvents(mug)).at(-1)!.reason, `reservation of order ${lapsed} expired`);
    assert.deepEqual(await sweepExpiredReservations({ db, outbox: context.outbox, log: context.log }), [], 'nothing is due any more');
    // A late reserve is the same order again: closed. A late release is a no-op.
    assert.equal((await reserve(lapsed, [{ productId: mug, quantity: 2 }])).code, 'ORDER_CLOSED');
    assert.deepEqual(await release(lapsed), { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 5, reserved: 1, sold: 0, available: 4 });
  });

  it('commits an expired reservation if its units are still free, and refuses if they are gone', async () => {
    const mug = await newProduct('Blue Mug', 3);
    const lucky = randomUUID();
    await reserve(lucky, [{ productId: mug, quantity: 2 }]);
    await expireNow(lucky);
    assert.deepEqual(await commit(lucky), { outcome: 'succeeded' });
    assert.deepEqual(await stock(mug), { onHand: 1, reserved: 0, sold: 2, available: 1 });
    assert.equal(await status(lucky), 'COMMITTED');

    const unlucky = randomUUID();
    await reserve(unlucky, [{ productId: mug, quantity: 1 }]);
    await expireNow(unlucky);
    await reserve(randomUUID(), [{ productId: mug, quantity: 1 }]); // someone else takes the unit
    const reply = await commit(unlucky);
    assert.equal(reply.outcome, 'failed');
    assert.equal(reply.code, 'RESERVATION_EXPIRED');
    assert.match(reply.reason!, /"Blue Mug" is out of stock/);
    assert.equal(await status(unlucky), 'EXPIRED');
    assert.deepEqual(await stock(mug), { onHand: 1, reserved: 1, sold: 2, available: 0 });
  });

  it('shares the work between replicas sweeping at once: each hold expires exactly once', async () => {
    const mug = await newProduct('Blue Mug', 12);
    const orders = Array.from({ length: 12 }, () => randomUUID());
    for (const order of orders) await reserve(order, [{ productId: mug, quantity: 1 }]);
    await db.query(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = ANY($1::uuid[])`, [orders]);
    const sweeps = await Promise.all([1, 2, 3].map(() => sweepExpiredReservations({ db: wide, outbox: context.outbox, log: context.log, batch: 2 })));
    const expired = sweeps.flat();
    assert.equal(expired.length, 12, 'no hold expired twice');
    assert.deepEqual(new Set(expired), new Set(orders));
    assert.deepEqual(await stock(mug), { onHand: 12, reserved: 0, sold: 0, available: 12 });
  });

  it('runs as a loop while the service runs, at RESERVATION_SWEEP_MS', async () => {
    const mug = await newProduct('Blue Mug', 2);
    const order = randomUUID();
    await reserve(order, [{ productId: mug, quantity: 2 }], new Date(Date.now() + 300).toISOString());
    await catalogService.onStart!({ ...context, config: { ...context.config, RESERVATION_SWEEP_MS: 50 } } as never);
    try {
      await eventually(async () => ((await status(order)) === 'EXPIRED' ? true : undefined), 'the sweeper to expire the hold', 5_000);
    } finally {
      await catalogService.onStop!();
    }
    assert.equal((await stock(mug)).available, 2);
  });
});

describe('reservations against the model, under random histories', () => {
  it('answer and count exactly as the model does', async () => {
    const PRODUCTS = 3;
    const ORDERS = 3;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: PRODUCTS, maxLength: PRODUCTS }),
        // Long enough that most runs see a reservation committed, expired or released (and often all three).
        fc.array(inventoryCommand(PRODUCTS, ORDERS), { minLength: 15, maxLength: 40 }),
        async (initial, commands) => {
          const model = new InventoryModel();
          const productIds: string[] = [];
          for (const [i, onHand] of initial.entries()) {
            const id = await newProduct(`Product ${i}`, onHand);
            productIds.push(id);
            model.addProduct(id, `Product ${i}`, onHand);
          }
          const unknownProduct = randomUUID();
          const orderIds = Array.from({ length: ORDERS }, () => randomUUID());
          for (const command of commands) {
            const what = JSON.stringify(command);
            await runCommand(command, model, productIds, unknownProduct, orderIds, what);
            const ledgers = await readLedgers(db, productIds);
            for (const [index, id] of productIds.entries()) {
              const expected = model.products.get(id)!;
              const actual = ledgers.get(id)!;
              assert.deepEqual(
                [actual.onHand, actual.reserved, actual.sold, actual.received],
                [expected.onHand, expected.reserved, expected.sold, expected.received],
                `product ${index} after ${what}`,
              );
              assert.deepEqual(stockViolations(actual), [], `product ${index} after ${what}`);
            }
            for (const [index, id] of orderIds.entries()) assert.equal(await status(id), model.reservations.get(id)?.status, `order ${index} after ${what}`);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

async function runCommand(command: InventoryCommand, model: InventoryModel, productIds: string[], unknownProduct: string, orderIds: string[], what: string): Promise<void> {
  switch (command.kind) {
    case 'reserve': {
      const lines = command.lines.map((l) => ({ productId: productIds[l.product] ?? unknownProduct, quantity: l.quantity }));
      const orderId = orderIds[command.order]!;
      assert.deepEqual(await reserve(orderId, lines), model.reserve(orderId, lines), what);
      return;
    }
    case 'commit':
      assert.deepEqual(await commit(orderIds[command.order]!), model.commit(orderIds[command.order]!), what);
      return;
    case 'release':
      assert.deepEqual(await release(orderIds[command.order]!), model.release(orderIds[command.order]!), what);
      return;
    case 'expire': {
      const orderId = orderIds[command.order]!;
      const expired = model.expire(orderId);
      await db.query(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = $1 AND status = 'RESERVED'`, [orderId]);
      assert.deepEqual(await sweepExpiredReservations({ db, outbox: context.outbox, log: context.log }), expired ? [orderId] : [], what);
      return;
    }
    case 'adjust': {
      const id = productIds[command.product]!;
      const result = await products.adjustStock(id, command.delta, 'count', 'tester');
      assert.equal(typeof result === 'object', model.adjust(id, command.delta), what);
      return;
    }
    case 'withdraw': {
      const id = productIds[command.product]!;
      await products.update(id, { active: command.active });
      model.setActive(id, command.active);
      return;
    }
  }
}
