import type { Queryable } from '@bazaar/chassis';
import type { StockLedger } from '../domain/inventory-model.ts';

/**
 * The stock ledger of every product (or of `productIds`) read from the catalog's
 * tables: the counts on the product, the sum of its stock adjustments, and the
 * quantities of its open and committed reservations. What the invariant checker
 * reads; `stockViolations` says what must hold between them.
 */
export async function readLedgers(db: Queryable, productIds?: readonly string[]): Promise<Map<string, StockLedger>> {
  const { rows } = await db.query<{ id: string } & StockLedger>(
    `SELECT p.id, p.on_hand AS "onHand", p.reserved, p.sold,
            (SELECT coalesce(sum(a.delta), 0)::int FROM stock_adjustments a WHERE a.product_id = p.id) AS received,
            (SELECT coalesce(sum(l.quantity), 0)::int FROM reservation_lines l JOIN reservations r USING (order_id)
              WHERE l.product_id = p.id AND r.status = 'RESERVED') AS held,
            (SELECT coalesce(sum(l.quantity), 0)::int FROM reservation_lines l JOIN reservations r USING (order_id)
              WHERE l.product_id = p.id AND r.status = 'COMMITTED') AS committed
       FROM products p
      WHERE $1::uuid[] IS NULL OR p.id = ANY($1::uuid[])`,
    [productIds ?? null],
  );
  return new Map(rows.map(({ id, ...ledger }) => [id, ledger]));
}
