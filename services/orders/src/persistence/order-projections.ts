import { writeBehind, type Queryable } from '@bazaar/chassis';
import type { Order, OrderStatus } from '../domain/order.ts';
import { orderView, type OrderView } from '../domain/order-view.ts';

/**
 * The channel a projection notifies when an order's view changed; live status
 * streams listen on it. The payload is the order id, a space and the new view as
 * JSON — so a stream sends it without reading it back — or the id alone when the
 * view would not fit NOTIFY's payload (under 8000 bytes).
 */
export const ORDER_UPDATES_CHANNEL = 'order_updates';

/** Largest payload sent with the view (bytes); PostgreSQL refuses 8000 and more. */
const NOTICE_LIMIT = 7_900;

/** An order update as the channel carries it: the id, and the view when it fitted. */
export function parseOrderUpdate(payload: string): { orderId: string; view?: () => OrderView } {
  const space = payload.indexOf(' ');
  if (space < 0) return { orderId: payload };
  return { orderId: payload.slice(0, space), view: () => JSON.parse(payload.slice(space + 1)) as OrderView };
}

/**
 * The read models, projected inline: in the transaction that appends the events,
 * so a reader never sees an order older than its last answered request. Both are
 * disposable; `rebuild` derives them again from the streams.
 */
export interface ListOptions {
  status?: string | undefined;
  page: number;
  pageSize: number;
}

export class OrderProjections {
  /**
   * Both read models and the notice to live streams, in one statement, sent with
   * the deciding transaction's COMMIT (nothing in it reads them back).
   */
  async project(tx: Queryable, order: Order): Promise<void> {
    await writeBehind(tx, ...this.upsert(order));
  }

  private upsert(order: Order): [string, unknown[]] {
    const document = JSON.stringify(orderView(order));
    const notice = `${order.id} ${document}`;
    return [
      `WITH summary AS (
         INSERT INTO order_summaries (order_id, customer_id, status, total_amount, currency, item_count, placed_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version
         WHERE order_summaries.version < EXCLUDED.version),
       detail AS (
         INSERT INTO order_details (order_id, customer_id, document, version) VALUES ($1, $2, $10, $9)
         ON CONFLICT (order_id) DO UPDATE SET document = EXCLUDED.document, version = EXCLUDED.version
         WHERE order_details.version < EXCLUDED.version)
       SELECT pg_notify($11, $12)`,
      [
        order.id,
        order.customerId,
        order.status,
        order.total.amount,
        order.total.currency,
        order.lines.reduce((n, l) => n + l.quantity, 0),
        order.placedAt,
        order.updatedAt,
        order.version,
        document,
        ORDER_UPDATES_CHANNEL,
        Buffer.byteLength(notice) <= NOTICE_LIMIT ? notice : order.id,
      ],
    ];
  }

  async detail(db: Queryable, orderId: string): Promise<(OrderView & { customerId: string }) | null> {
    const { rows } = await db.query<{ document: OrderView; customer_id: string }>('SELECT document, customer_id FROM order_details WHERE order_id = $1', [orderId]);
    return rows[0] ? { ...rows[0].document, customerId: rows[0].customer_id } : null;
  }

  async listFor(db: Queryable, customerId: string, options: ListOptions) {
    const { total, items } = await this.list(db, { ...options, customerId });
    return { total, items: items.map(({ customerId: _owner, ...summary }) => summary) };
  }

  /** Orders newest first: one customer's (`customerId`) or everyone's, in one status or all. */
  async list(db: Queryable, options: ListOptions & { customerId?: string | undefined }) {
    const { rows } = await db.query<{ order_id: string; customer_id: string; status: OrderStatus; total_amount: string; currency: string; item_count: number; placed_at: Date; updated_at: Date; total: string }>(
      `SELECT order_id, customer_id, status, total_amount, currency, item_count, placed_at, updated_at, count(*) OVER () AS total
         FROM order_summaries WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY placed_at DESC, order_id DESC LIMIT $3 OFFSET $4`,
      [options.customerId ?? null, options.status ?? null, options.pageSize, (options.page - 1) * options.pageSize],
    );
    return {
      total: rows[0] ? Number(rows[0].total) : 0,
      items: rows.map((row) => ({
        id: row.order_id,
        customerId: row.customer_id,
        status: row.status,
        total: { amount: Number(row.total_amount), currency: row.currency },
        itemCount: row.item_count,
        placedAt: row.placed_at.toISOString(),
        updatedAt: row.updated_at.toISOString(),
      })),
    };
  }

  /** Empties both read models and projects every stream again; answers how many orders it projected. */
  async rebuild(db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> }, orders: AsyncIterable<Order>): Promise<number> {
    return db.transaction(async (tx) => {
      await tx.query('LOCK TABLE order_summaries, order_details IN EXCLUSIVE MODE');
      await tx.query('TRUNCATE order_summaries, order_details');
      let count = 0;
      for await (const order of orders) {
        // Now, not at the commit: a rebuild projects every stream in this one transaction.
        await tx.query(...this.upsert(order));
        count++;
      }
      return count;
    });
  }
}
