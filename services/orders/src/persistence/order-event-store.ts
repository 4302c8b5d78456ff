import type { Queryable } from '@bazaar/chassis';
import { currentSchemaVersion, upcast, type OrderEvent } from '../domain/order-events.ts';
import { emptyOrder, evolve, ORDER_STATE_VERSION, type Order } from '../domain/order.ts';

/** Another writer appended to the stream since it was read: reload and decide again. */
export class ConcurrencyError extends Error {}

interface EventRow {
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  recorded_at: Date;
}

/**
 * The orders event store: one append-only stream per order. Appending names the
 * version the writer decided on; the primary key (order_id, version) refuses a
 * second writer that read the same version. Every `snapshotEvery` events the state
 * is snapshotted, and loading starts from the latest usable snapshot.
 */
export class OrderEventStore {
  private readonly snapshotEvery: number;

  constructor(options: { snapshotEvery?: number } = {}) {
    this.snapshotEvery = options.snapshotEvery ?? 10;
  }

  /** The order folded from its snapshot and later events; null when the stream is empty. One round trip. */
  async load(db: Queryable, orderId: string): Promise<Order | null> {
    // The usable snapshot (if any) comes first, then the events after it.
    const { rows } = await db.query<EventRow & { snapshot: Order | null }>(
      `WITH snap AS (SELECT version, state FROM order_snapshots WHERE order_id = $1 AND state_version = $2)
       SELECT 0 AS part, NULL::int AS version, NULL::text AS type, NULL::int AS schema_version, NULL::jsonb AS data, NULL::timestamptz AS recorded_at, state AS snapshot FROM snap
       UNION ALL
       SELECT 1, version, type, schema_version, data, recorded_at, NULL FROM order_events
        WHERE order_id = $1 AND version > COALESCE((SELECT version FROM snap), 0)
       ORDER BY part, version`,
      [orderId, ORDER_STATE_VERSION],
    );
    let order = rows[0]?.snapshot ?? emptyOrder(orderId);
    for (const row of rows) {
      if (row.snapshot) continue;
      order = evolve(order, upcast({ type: row.type, schemaVersion: row.schema_version, data: row.data }), row.recorded_at.toISOString());
    }
    return order.version === 0 ? null : order;
  }

  /**
   * Appends `events` after `order.version` and answers the new state. Throws
   * ConcurrencyError when the stream moved on since `order` was read.
   */
  async append(tx: Queryable, order: Order, events: readonly OrderEvent[], now: Date, metadata: Record<string, unknown> = {}): Promise<Order> {
    if (events.length === 0) return order;
    const at = now.toISOString();
    let next = order;
    for (const event of events) next = evolve(next, event, at);
    try {
      await tx.query(
        `INSERT INTO order_events (order_id, version, type, schema_version, data, metadata, recorded_at)
         SELECT $1, v, t, s, d, $6, $7 FROM unnest($2::int[], $3::text[], $4::int[], $5::jsonb[]) AS e(v, t, s, d)`,
        [
          order.id,
          events.map((_, i) => order.version + 1 + i),
          events.map((e) => e.type),
          events.map((e) => currentSchemaVersion[e.type]),
          events.map((e) => JSON.stringify(e.data)),
          JSON.stringify(metadata),
          now,
        ],
      );
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ConcurrencyError(`order ${order.id} changed since version ${order.version}`);
      throw error;
    }
    if (Math.floor(next.version / this.snapshotEvery) > Math.floor(order.version / this.snapshotEvery)) await this.snapshot(tx, next);
    return next;
  }

  async snapshot(tx: Queryable, order: Order): Promise<void> {
    await tx.query(
      `INSERT INTO order_snapshots (order_id, version, state_version, state) VALUES ($1, $2, $3, $4)
       ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, state_version = EXCLUDED.state_version, state = EXCLUDED.state, taken_at = now()
       WHERE order_snapshots.version < EXCLUDED.version OR order_snapshots.state_version <> EXCLUDED.state_version`,
      [order.id, order.version, ORDER_STATE_VERSION, JSON.stringify(order)],
    );
  }

  /** Every stream, oldest event first, folded: what a projection rebuild replays. */
  async *allOrders(db: Queryable, batch = 500): AsyncGenerator<Order> {
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const { rows: ids } = await db.query<{ order_id: string }>(
        'SELECT DISTINCT order_id FROM order_events WHERE order_id > $1 ORDER BY order_id LIMIT $2',
        [after, batch],
      );
      if (ids.length === 0) return;
      for (const { order_id } of ids) {
        const { rows } = await db.query<EventRow>('SELECT version, type, schema_version, data, recorded_at FROM order_events WHERE order_id = $1 ORDER BY version', [order_id]);
        let order = emptyOrder(order_id);
        for (const row of rows) order = evolve(order, upcast({ type: row.type, schemaVersion: row.schema_version, data: row.data }), row.recorded_at.toISOString());
        yield order;
      }
      after = ids[ids.length - 1]!.order_id;
    }
  }
}
