import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { availableStock, canAdjustStock } from './product.ts';

const stockLevel = fc
  .tuple(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }))
  .map(([a, b]) => ({ onHand: Math.max(a, b), reserved: Math.min(a, b) }));

describe('stock adjustments', () => {
  it('never allow on-hand stock below what is reserved', () => {
    fc.assert(
      fc.property(stockLevel, fc.integer({ min: -2_000_000, max: 2_000_000 }), (stock, delta) => {
        const after = { onHand: stock.onHand + delta, reserved: stock.reserved };
        assert.equal(canAdjustStock(stock, delta), after.onHand >= 0 && availableStock(after) >= 0);
      }),
    );
  });

  it('always allow receiving goods', () => {
    fc.assert(fc.property(stockLevel, fc.integer({ min: 1, max: 1_000 }), (stock, delta) => canAdjustStock(stock, delta)));
  });

  it('available is on hand minus reserved', () => {
    assert.equal(availableStock({ onHand: 10, reserved: 3 }), 7);
  });
});
