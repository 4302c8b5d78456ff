/**
 * Placing an order: price it from the catalog and tokenize the card at payments
 * (at once), then in one transaction record the Idempotency-Key, append OrderPlaced to a new
 * stream, project it and start the saga (its first command goes to the outbox).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { AppError, type Database } from '@bazaar/chassis';
import { MAX_UNITS_PER_PRODUCT } from '@bazaar/contracts/messages';
import type { OrderEvent, Address } from '../domain/order-events.ts';
import { emptyOrder } from '../domain/order.ts';
import type { CatalogClient } from '../clients/catalog-client.ts';
import type { Card, PaymentsClient } from '../clients/payments-client.ts';
import type { OrderEventStore } from '../persistence/order-event-store.ts';
import type { OrderProjections } from '../persistence/order-projections.ts';
import type { CheckoutSaga } from './checkout-saga.ts';

export interface PlaceOrderRequest {
  items: Array<{ productId: string; quantity: number }>;
  shippingAddress: Address;
  payment: Card;
}

export interface Placed {
  id: string;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
}

/** Same lines in any order are the same order: sorted, duplicates merged. */
function mergeLines(items: PlaceOrderRequest['items']): Array<{ productId: string; quantity: number }> {
  const merged = new Map<string, number>();
  for (const { productId, quantity } of items) merged.set(productId.toLowerCase(), (merged.get(productId.toLowerCase()) ?? 0) + quantity);
  return [...merged].sort(([a], [b]) => a.localeCompare(b)).map(([productId, quantity]) => ({ productId, quantity }));
}

export class PlaceOrder {
  private readonly deps: {
    db: Database;
    store: OrderEventStore;
    projections: OrderProjections;
    saga: CheckoutSaga;
    catalog: CatalogClient;
    payments: PaymentsClient;
    /** Keys the request fingerprint, so a stored fingerprint reveals nothing of the card. */
    fingerprintKey: () => Promise<string>;
  };
  private key: Promise<string> | undefined;

  constructor(deps: PlaceOrder['deps']) {
    this.deps = deps;
  }

  /**
   * A keyed hash of the request as sent: the same key with the same body answers
   * the stored response; with another body, 422.
   */
  async fingerprint(body: PlaceOrderRequest): Promise<string> {
    const canonical = JSON.stringify({
      items: mergeLines(body.items),
      shippingAddress: [body.shippingAddress.name, body.shippingAddress.line1, body.shippingAddress.city, body.shippingAddress.postalCode, body.shippingAddress.country],
      payment: [body.payment.cardNumber.replace(/\s+/g, ''), body.payment.expMonth, body.payment.expYear, body.payment.cvc],
    });
    this.key ??= this.deps.fingerprintKey().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return createHmac('sha256', await this.key).update(canonical).digest('base64url');
  }

  async place(customerId: string, idempotencyKey: string, body: PlaceOrderRequest, authorization: string | undefined): Promise<Placed> {
    const fingerprint = await this.fingerprint(body);
    const earlier = await this.answered(this.deps.db, customerId, idempotencyKey, fingerprint);
    if (earlier) return earlier;
    this.deps.saga.admit();

    const lines = mergeLines(body.items);
    if (lines.length > 50) throw new AppError('VALIDATION_FAILED', 'An order has at most 50 different products');
    // Lines of the same product are merged: together they must fit what one line may hold.
    const tooMany = lines.find((line) => line.quantity > MAX_UNITS_PER_PRODUCT);
    if (tooMany) throw new AppError('VALIDATION_FAILED', `An order holds at most ${MAX_UNITS_PER_PRODUCT} units of a product; its lines ask ${tooMany.quantity} of ${tooMany.productId}`);
    // Prices and the card token do not depend on each other: both asked at once (one round trip
    // less before the order exists). A catalog refusal still answers first; a token made for an
    // order refused afterwards is never charged.
    const tokenizing = this.deps.payments.tokenize(body.payment, authorization);
    tokenizing.catch(() => {}); // awaited below, or abandoned with the catalog's error
    const products = await this.deps.catalog.products(lines.map((line) => line.productId));
    const missing = lines.filter((line) => !products.has(line.productId)).map((line) => line.productId);
    if (missing.length > 0) throw new AppError('PRODUCT_UNAVAILABLE', `Not for sale: ${missing.join(', ')}`);
    const priced = lines.map((line) => {
      const product = products.get(line.productId)!;
      return { productId: line.productId, name: product.name, quantity: line.quantity, unitPrice: product.price };
    });
    const currencies = new Set(priced.map((line) => line.unitPrice.currency));
    if (currencies.size > 1) throw new AppError('CURRENCY_MISMATCH', `The products are priced in ${[...currencies].join(' and ')}`);
    const total = { amount: priced.reduce((sum, line) => sum + line.unitPrice.amount * line.quantity, 0), currency: priced[0]!.unitPrice.currency };
    if (total.amount > 100_000_000_00) throw new AppError('VALIDATION_FAILED', 'The order total is too large');

    const payment = await tokenizing;

    const id = randomUUID();
    const placed: Placed = { id, status: 'PENDING' };
    return this.deps.db.transaction(async (tx) => {
      // A concurrent request with the same key waits here until the first commits, then finds its answer.
      const { rowCount } = await tx.query(
        'INSERT INTO idempotency_keys (customer_id, key, fingerprint, order_id, response) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
        [customerId, idempotencyKey, fingerprint, id, JSON.stringify(placed)],
      );
      if (rowCount === 0) return (await this.answered(tx, customerId, idempotencyKey, fingerprint))!;
      const now = new Date();
      const event: OrderEvent = {
        type: 'OrderPlaced',
        data: { customerId, lines: priced, total, shippingAddress: body.shippingAddress, payment, placedAt: now.toISOString() },
      };
      const order = await this.deps.store.append(tx, emptyOrder(id), [event], now, { idempotencyKey });
      await this.deps.projections.project(tx, order);
      await this.deps.saga.start(tx, order, now);
      return placed;
    });
  }

  private async answered(db: { query: Database['query'] }, customerId: string, key: string, fingerprint: string): Promise<Placed | null> {
    const { rows } = await db.query<{ fingerprint: string; response: Placed }>('SELECT fingerprint, response FROM idempotency_keys WHERE customer_id = $1 AND key = $2', [customerId, key]);
    const row = rows[0];
    if (!row) return null;
    if (row.fingerprint !== fingerprint) throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different order; use a new key for a new order');
    return row.response;
  }
}
