import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InventoryModel, modelLedgers, stockViolations } from './inventory-model.ts';
import { inventoryCommand, type InventoryCommand } from '../testing/inventory-commands.ts';
import { commitStep, mergeLines, releaseStep, reserveRefusal, retakeRefusal, type Answer, type ProductStock, type StockLine } from './reservation.ts';

const mug: ProductStock = { name: 'Blue Mug', active: true, onHand: 5, reserved: 3 };
const lamp: ProductStock = { name: 'Desk Lamp', active: true, onHand: 10, reserved: 0 };

describe('reservation rules', () => {
  it('merges repeated products by summing their quantities, keeping the order they appear in', () => {
    assert.deepEqual(
      mergeLines([
        { productId: 'b', quantity: 2 },
        { productId: 'a', quantity: 1 },
        { productId: 'b', quantity: 3 },
      ]),
      [
        { productId: 'b', quantity: 5 },
        { productId: 'a', quantity: 1 },
      ],
    );
  });

  it('names the product that is short, and how many are left, in words a customer reads', () => {
    const stock = new Map([
      ['mug', mug],
      ['lamp', lamp],
    ]);
    assert.equal(reserveRefusal([{ productId: 'lamp', quantity: 10 }, { productId: 'mug', quantity: 2 }], stock), undefined);
    assert.deepEqual(reserveRefusal([{ productId: 'lamp', quantity: 1 }, { productId: 'mug', quantity: 3 }], stock), {
      code: 'OUT_OF_STOCK',
      reason: 'Only 2 of "Blue Mug" left.',
    });
    const soldOut = new Map([['mug', { ...mug, reserved: 5 }]]);
    assert.deepEqual(reserveRefusal([{ productId: 'mug', quantity: 1 }], soldOut), { code: 'OUT_OF_STOCK', reason: '"Blue Mug" is out of stock.' });
  });

  it('refuses an unknown or withdrawn product before any shortage', () => {
    const stock = new Map([
      ['mug', { ...mug, onHand: 0, reserved: 0 }],
      ['lamp', { ...lamp, active: false }],
    ]);
    assert.equal(reserveRefusal([{ productId: 'mug', quantity: 1 }, { productId: 'lamp', quantity: 1 }], stock)?.code, 'PRODUCT_UNAVAILABLE');
    assert.equal(reserveRefusal([{ productId: 'lamp', quantity: 1 }], stock)?.reason, '"Desk Lamp" is no longer for sale.');
    assert.equal(reserveRefusal([{ productId: 'nope', quantity: 1 }], stock)?.code, 'PRODUCT_UNAVAILABLE');
  });

  it('takes an expired reservation\'s units again only if they are still free, listed or not', () => {
    const withdrawn = new Map([['lamp', { ...lamp, active: false }]]);
    assert.equal(retakeRefusal([{ productId: 'lamp', quantity: 10 }], withdrawn), undefined);
    assert.equal(retakeRefusal([{ productId: 'lamp', quantity: 11 }], withdrawn)?.code, 'RESERVATION_EXPIRED');
  });

  it('commits only what is held or still free, and releases whatever is held or sold', () => {
    assert.deepEqual(
      (['RESERVED', 'EXPIRED', 'COMMITTED', 'RELEASED', 'REJECTED', undefined] as const).map(commitStep),
      ['commit', 'retake', 'done', 'closed', 'closed', 'closed'],
    );
    assert.deepEqual(
      (['RESERVED', 'COMMITTED', undefined, 'RELEASED', 'EXPIRED', 'REJECTED'] as const).map(releaseStep),
      ['unreserve', 'return', 'tombstone', 'done', 'done', 'done'],
    );
  });
});

// --- Property: random histories of commands against the inventory model. ---

const PRODUCTS = ['p0', 'p1', 'p2'];
const ORDERS = ['o0', 'o1', 'o2'];

function apply(model: InventoryModel, command: InventoryCommand): Answer | boolean {
  switch (command.kind) {
    case 'reserve': {
      const lines: StockLine[] = command.lines.map((l) => ({ productId: PRODUCTS[l.product] ?? 'unknown', quantity: l.quantity }));
      return model.reserve(ORDERS[command.order]!, lines);
    }
    case 'commit':
      return model.commit(ORDERS[command.order]!);
    case 'release':
      return model.release(ORDERS[command.order]!);
    case 'expire':
      return model.expire(ORDERS[command.order]!);
    case 'adjust':
      return model.adjust(PRODUCTS[command.product]!, command.delta);
    case 'withdraw':
      model.setActive(PRODUCTS[command.product]!, command.active);
      return true;
  }
}

const snapshot = (model: InventoryModel) => JSON.stringify([[...model.products], [...model.reservations]]);
const stockSnapshot = (model: InventoryModel) => JSON.stringify([...model.products].map(([id, p]) => [id, p.onHand, p.reserved, p.sold]));

describe('reservations, as a model, under any history of commands', () => {
  const history = fc.record({
    initial: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: PRODUCTS.length, maxLength: PRODUCTS.length }),
    // Long histories: an order needs several commands before its reservation is committed and released.
    commands: fc.array(inventoryCommand(PRODUCTS.length, ORDERS.length), { minLength: 20, maxLength: 60 }),
  });

  it('keep every count non-negative, never reserve beyond what is on hand, and account for every unit', () => {
    fc.assert(
      fc.property(history, ({ initial, commands }) => {
        const model = new InventoryModel();
        PRODUCTS.forEach((id, i) => model.addProduct(id, `Product ${i}`, initial[i]!));
        for (const command of commands) {
          apply(model, command);
          for (const [id, ledger] of modelLedgers(model)) assert.deepEqual(stockViolations(ledger), [], `${id} after ${JSON.stringify(command)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reserve all lines or none: a refused reserve changes no stock and records the refusal', () => {
    fc.assert(
      fc.property(history, ({ initial, commands }) => {
        const model = new InventoryModel();
        PRODUCTS.forEach((id, i) => model.addProduct(id, `Product ${i}`, initial[i]!));
        for (const command of commands) {
          const before = stockSnapshot(model);
          const fresh = command.kind === 'reserve' && !model.reservations.has(ORDERS[command.order]!);
          const answer = apply(model, command);
          if (fresh && typeof answer === 'object') {
            const reservation = model.reservations.get(ORDERS[command.order]!)!;
            if (answer.outcome === 'failed') {
              assert.equal(stockSnapshot(model), before, 'a refused reserve changes no stock');
              assert.equal(reservation.status, 'REJECTED');
              assert.match(answer.code, /^(OUT_OF_STOCK|PRODUCT_UNAVAILABLE)$/);
            } else {
              const wanted = command.lines.reduce((sum, l) => sum + l.quantity, 0);
              const held = reservation.lines.reduce((sum, l) => sum + l.quantity, 0);
              assert.equal(held, wanted, 'every line is held, and only once');
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('answer every command handled twice in a row as the first time, and change nothing the second time', () => {
    fc.assert(
      fc.property(history, ({ initial, commands }) => {
        const model = new InventoryModel();
        PRODUCTS.forEach((id, i) => model.addProduct(id, `Product ${i}`, initial[i]!));
        for (const command of commands) {
          const first = apply(model, command);
          if (command.kind === 'adjust' || command.kind === 'expire') continue; // not messages: no redelivery
          const after = snapshot(model);
          assert.deepEqual(apply(model, command), first, JSON.stringify(command));
          assert.equal(snapshot(model), after);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('catches a broken rule: a model that forgets to release held units on expiry breaks the invariants', () => {
    // Proves the invariant check above can fail: sabotage expiry and look for a violation.
    const model = new InventoryModel();
    model.addProduct('p0', 'Product 0', 3);
    model.reserve('o0', [{ productId: 'p0', quantity: 2 }]);
    model.reservations.get('o0')!.status = 'EXPIRED'; // what a buggy sweeper would do: status only
    assert.notDeepEqual(stockViolations(modelLedgers(model).get('p0')!), []);
  });
});
