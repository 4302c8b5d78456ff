/**
 * Inventory reservations: the rules, free of the database. The repository applies
 * them to rows it has locked; the property tests apply them to a model and hold
 * the database to the same answers.
 */

export type ReservationStatus = 'RESERVED' | 'COMMITTED' | 'RELEASED' | 'EXPIRED' | 'REJECTED';

export interface StockLine {
  productId: string;
  quantity: number;
}

/** Why catalog refuses a command; a stable code for orders, a reason for the customer. */
export type RefusalCode = 'OUT_OF_STOCK' | 'PRODUCT_UNAVAILABLE' | 'ORDER_CLOSED' | 'RESERVATION_EXPIRED';

export interface Refusal {
  code: RefusalCode;
  reason: string;
}

/** The answer to a command, as its `…-result.v1` reply carries it. */
export type Answer = { outcome: 'succeeded' } | ({ outcome: 'failed' } & Refusal);

export const succeeded: Answer = { outcome: 'succeeded' };

export function failed(refusal: Refusal): Answer {
  return { outcome: 'failed', ...refusal };
}

/** What a product offers a reservation. */
export interface ProductStock {
  name: string;
  active: boolean;
  onHand: number;
  reserved: number;
}

/** One line per product, quantities of repeated products summed, in the order products first appear. */
export function mergeLines(lines: readonly StockLine[]): StockLine[] {
  const merged = new Map<string, number>();
  for (const { productId, quantity } of lines) merged.set(productId, (merged.get(productId) ?? 0) + quantity);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}

function outOfStock(name: string, available: number): string {
  return available > 0 ? `Only ${available} of "${name}" left.` : `"${name}" is out of stock.`;
}

/**
 * Why `lines` (merged) cannot all be reserved from `stock`, or undefined when
 * every one can. A product that is gone or not for sale is reported before a
 * shortage, since no quantity would fix it.
 */
export function reserveRefusal(lines: readonly StockLine[], stock: ReadonlyMap<string, ProductStock>): Refusal | undefined {
  for (const line of lines) {
    const product = stock.get(line.productId);
    if (!product) return { code: 'PRODUCT_UNAVAILABLE', reason: 'A product in the order is no longer sold.' };
    if (!product.active) return { code: 'PRODUCT_UNAVAILABLE', reason: `"${product.name}" is no longer for sale.` };
  }
  for (const line of lines) {
    const product = stock.get(line.productId)!;
    const available = product.onHand - product.reserved;
    if (available < line.quantity) return { code: 'OUT_OF_STOCK', reason: outOfStock(product.name, available) };
  }
  return undefined;
}

/**
 * Why the stock of an expired reservation cannot be taken again at commit, or
 * undefined when it can. The order is paid by then, so only the units matter,
 * not whether the product is still listed.
 */
export function retakeRefusal(lines: readonly StockLine[], stock: ReadonlyMap<string, ProductStock>): Refusal | undefined {
  for (const line of lines) {
    const product = stock.get(line.productId);
    const available = product ? product.onHand - product.reserved : 0;
    if (available < line.quantity) {
      const name = product?.name ?? 'a product';
      return { code: 'RESERVATION_EXPIRED', reason: `The reservation lapsed before the order was confirmed. ${outOfStock(name, available)}` };
    }
  }
  return undefined;
}

export const orderClosed: Refusal = { code: 'ORDER_CLOSED', reason: 'The order was closed; its stock is no longer held.' };

/** A reservation as stored, enough to answer a repeated reserve. */
export interface StoredReservation {
  status: ReservationStatus;
  rejectCode: string | null;
  rejectReason: string | null;
}

/** The answer to a reserve for an order that already has a reservation: the same as the first time. */
export function repeatedReserveAnswer(stored: StoredReservation): Answer {
  switch (stored.status) {
    case 'RESERVED':
    case 'COMMITTED':
      return succeeded;
    case 'REJECTED':
      return failed({ code: stored.rejectCode as RefusalCode, reason: stored.rejectReason ?? 'The stock could not be reserved.' });
    case 'RELEASED':
    case 'EXPIRED':
      return failed(orderClosed);
  }
}

/**
 * What commit-stock does, by the reservation's status: commit the held units,
 * take them again after expiry (if still free), nothing (already committed), or
 * refuse (never held, refused, or released).
 */
export function commitStep(status: ReservationStatus | undefined): 'commit' | 'retake' | 'done' | 'closed' {
  if (status === 'RESERVED') return 'commit';
  if (status === 'EXPIRED') return 'retake';
  if (status === 'COMMITTED') return 'done';
  return 'closed';
}

/**
 * What release-stock does, by the reservation's status: let go of held units,
 * take sold units back, leave a tombstone for an order never seen (so a late
 * reserve is refused), or nothing. A compensation always succeeds.
 */
export function releaseStep(status: ReservationStatus | undefined): 'unreserve' | 'return' | 'tombstone' | 'done' {
  if (status === 'RESERVED') return 'unreserve';
  if (status === 'COMMITTED') return 'return';
  if (status === undefined) return 'tombstone';
  return 'done';
}
