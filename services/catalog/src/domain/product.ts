import { Type, type Static } from '@bazaar/chassis';
import { Money } from '@bazaar/contracts';

/** Stock as the catalog tracks it: `available` is what can still be promised to an order. */
export interface StockLevel {
  onHand: number;
  reserved: number;
}

export function availableStock(stock: StockLevel): number {
  return stock.onHand - stock.reserved;
}

/**
 * Whether adjusting on-hand stock by `delta` keeps the stock valid: never below
 * zero, never below what is already reserved for orders. The database enforces
 * the same rule; this explains a refusal before the database has to.
 */
export function canAdjustStock(stock: StockLevel, delta: number): boolean {
  const onHand = stock.onHand + delta;
  return Number.isSafeInteger(onHand) && onHand >= 0 && onHand >= stock.reserved;
}

export const ProductView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sku: Type.String(),
  name: Type.String(),
  description: Type.String(),
  price: Money,
  category: Type.String(),
  images: Type.Array(Type.String()),
  active: Type.Boolean(),
  available: Type.Integer({ description: 'Units that can still be ordered: on hand minus reserved' }),
  onHand: Type.Integer(),
  reserved: Type.Integer(),
  version: Type.Integer({ description: 'Increments on every change; the ETag is derived from it' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type ProductView = Static<typeof ProductView>;

export const Sku = Type.String({ pattern: '^[A-Z0-9][A-Z0-9-]{1,63}$', description: 'Upper-case letters, digits and dashes' });
export const CategorySlug = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' });
export const ImageUrl = Type.String({ maxLength: 2048, pattern: '^(https://|/)[^\\s]*$' });
