import fc from 'fast-check';

/**
 * A command in a random history of the inventory, by index into the test's
 * products and orders: what the property tests (model and database) replay.
 */
export type InventoryCommand =
  | { kind: 'reserve'; order: number; lines: Array<{ product: number; quantity: number }> }
  | { kind: 'commit' | 'release' | 'expire'; order: number }
  | { kind: 'adjust'; product: number; delta: number }
  | { kind: 'withdraw'; product: number; active: boolean };

/** Commands over `products` products and `orders` orders; product index `products` is one the catalog does not have. */
export function inventoryCommand(products: number, orders: number): fc.Arbitrary<InventoryCommand> {
  const order = fc.integer({ min: 0, max: orders - 1 });
  const product = fc.integer({ min: 0, max: products - 1 });
  // Now and then a product the catalog does not have.
  const lineProduct = fc.oneof({ weight: 9, arbitrary: product }, { weight: 1, arbitrary: fc.constant(products) });
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('reserve' as const),
        order,
        lines: fc.array(fc.record({ product: lineProduct, quantity: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), order }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), order }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), order }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('adjust' as const), product, delta: fc.integer({ min: -3, max: 6 }).filter((d) => d !== 0) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), product, active: fc.boolean() }) },
  );
}
