/**
 * The floor: the same checkout as one PostgreSQL transaction in one database —
 * stock taken line by line (only while enough is left), the order CONFIRMED, the
 * payment CAPTURED and the shipment booked, all committed together or not at all.
 * No HTTP, no tokens, no card tokenization, no messages: what a monolith's checkout
 * costs at least on the same PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '@bazaar/chassis';
import type { Checkout } from './load.ts';

export const MONOLITH_SCHEMA = `
CREATE TABLE products (
  id       uuid PRIMARY KEY,
  price    integer NOT NULL,
  currency text NOT NULL,
  stock    integer NOT NULL CHECK (stock >= 0)
);
CREATE TABLE orders (
  id               uuid PRIMARY KEY,
  customer_id      uuid NOT NULL,
  status           text NOT NULL CHECK (status IN ('CONFIRMED', 'CANCELLED')),
  total            integer NOT NULL,
  currency         text NOT NULL,
  items            jsonb NOT NULL,
  shipping_address jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE payments (
  id         uuid PRIMARY KEY,
  order_id   uuid NOT NULL UNIQUE REFERENCES orders (id),
  status     text NOT NULL CHECK (status = 'CAPTURED'),
  amount     integer NOT NULL,
  currency   text NOT NULL,
  card_brand text NOT NULL,
  card_last4 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shipments (
  id              uuid PRIMARY KEY,
  order_id        uuid NOT NULL UNIQUE REFERENCES orders (id),
  status          text NOT NULL CHECK (status = 'BOOKED'),
  tracking_number text NOT NULL UNIQUE,
  address         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);`;

export interface Line {
  productId: string;
  quantity: number;
}

/** Two distinct products, one unit each: the same basket shape for every variant. */
export function basket(products: string[]): () => Line[] {
  return () => {
    const a = Math.floor(Math.random() * products.length);
    let b = Math.floor(Math.random() * (products.length - 1));
    if (b >= a) b++;
    return [
      { productId: products[a]!, quantity: 1 },
      { productId: products[b]!, quantity: 1 },
    ];
  };
}

/** Thrown inside the transaction when a line's stock is short: the whole checkout rolls back. */
class OutOfStock extends Error {}

export async function createMonolith(db: Database, productCount: number, stock: number): Promise<string[]> {
  await db.query(MONOLITH_SCHEMA);
  const ids = Array.from({ length: productCount }, () => randomUUID());
  for (const [i, id] of ids.entries()) {
    await db.query('INSERT INTO products (id, price, currency, stock) VALUES ($1, $2, $3, $4)', [id, 1000 + 250 * i, 'EUR', stock]);
  }
  return ids;
}

const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

/** One checkout: every line's stock, the order, its captured payment and its shipment in one transaction. */
export function monolithCheckout(db: Database, lines: () => Line[]): Checkout {
  return async () => {
    const items = [...lines()].sort((a, b) => a.productId.localeCompare(b.productId)); // one lock order: no deadlocks between checkouts
    try {
      const orderId = await db.transaction(async (tx) => {
        let total = 0;
        for (const line of items) {
          const taken = await tx.query<{ price: number }>('UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING price', [line.productId, line.quantity]);
          if (taken.rowCount !== 1) throw new OutOfStock(line.productId);
          total += taken.rows[0]!.price * line.quantity;
        }
        const id = randomUUID();
        await tx.query("INSERT INTO orders (id, customer_id, status, total, currency, items, shipping_address) VALUES ($1, $2, 'CONFIRMED', $3, 'EUR', $4, $5)", [
          id,
          randomUUID(),
          total,
          JSON.stringify(items),
          JSON.stringify(address),
        ]);
        await tx.query("INSERT INTO payments (id, order_id, status, amount, currency, card_brand, card_last4) VALUES ($1, $2, 'CAPTURED', $3, 'EUR', 'visa', '4242')", [randomUUID(), id, total]);
        await tx.query("INSERT INTO shipments (id, order_id, status, tracking_number, address) VALUES ($1, $2, 'BOOKED', $3, $4)", [
          randomUUID(),
          id,
          `BZ${id.replaceAll('-', '').slice(0, 16).toUpperCase()}`,
          JSON.stringify(address),
        ]);
        return id;
      });
      return { outcome: 'confirmed', detail: orderId };
    } catch (error) {
      if (error instanceof OutOfStock) return { outcome: 'cancelled', detail: `OUT_OF_STOCK ${error.message}` };
      throw error;
    }
  };
}

/** What the floor holds after a run, to check it did what it claims: confirmed orders, and stock taken = items sold. */
export async function monolithTotals(db: Database, initialStock: number): Promise<{ orders: number; payments: number; shipments: number; unitsSold: number; stockTaken: number }> {
  const { rows } = await db.query<{ orders: string; payments: string; shipments: string; sold: string; taken: string }>(
    `SELECT (SELECT count(*) FROM orders WHERE status = 'CONFIRMED')::text AS orders,
            (SELECT count(*) FROM payments)::text AS payments,
            (SELECT count(*) FROM shipments)::text AS shipments,
            (SELECT coalesce(sum((i->>'quantity')::int), 0) FROM orders, jsonb_array_elements(items) AS i)::text AS sold,
            (SELECT sum($1::int - stock) FROM products)::text AS taken`,
    [initialStock],
  );
  const r = rows[0]!;
  return { orders: Number(r.orders), payments: Number(r.payments), shipments: Number(r.shipments), unitsSold: Number(r.sold), stockTaken: Number(r.taken) };
}
