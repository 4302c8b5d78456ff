import { randomUUID } from 'node:crypto';
import type { Queryable } from '@bazaar/chassis';
import type { Address, Line, Shipment, ShipmentStatus } from '../domain/shipment.ts';

interface ShipmentRow {
  id: string;
  order_id: string;
  customer_id: string | null;
  status: ShipmentStatus;
  tracking_number: string | null;
  carrier: string;
  address: Address | null;
  lines: Line[] | null;
  reject_code: string | null;
  reject_reason: string | null;
  created_at: Date;
  cancelled_at: Date | null;
  dispatched_at: Date | null;
}

const columns = 'id, order_id, customer_id, status, tracking_number, carrier, address, lines, reject_code, reject_reason, created_at, cancelled_at, dispatched_at';

function toShipment(row: ShipmentRow): Shipment {
  return {
    id: row.id,
    orderId: row.order_id,
    customerId: row.customer_id,
    status: row.status,
    trackingNumber: row.tracking_number,
    carrier: row.carrier,
    address: row.address,
    lines: row.lines,
    rejectCode: row.reject_code,
    rejectReason: row.reject_reason,
    createdAt: row.created_at,
    cancelledAt: row.cancelled_at,
    dispatchedAt: row.dispatched_at,
  };
}

/** A shipment row as first written: booked, rejected by the carrier, or a tombstone. */
export interface NewShipment {
  orderId: string;
  customerId: string | null;
  status: 'BOOKED' | 'REJECTED' | 'CANCELLED';
  trackingNumber: string | null;
  carrier: string;
  address: Address | null;
  lines: Line[] | null;
  reject?: { code: string; reason: string };
}

export interface ShipmentQuery {
  /** Only this customer's shipments; undefined: everyone's (admins). */
  customerId: string | undefined;
  orderId: string | undefined;
  page: number;
  pageSize: number;
}

/**
 * Shipments in the service's own database: the pool for requests, a message
 * handler's transaction for the changes a command makes (so they commit with the
 * inbox record and the reply).
 */
export class ShipmentRepository {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** The order's shipment, locked until the transaction ends, so two deliveries of one order's messages take turns. */
  async lockForOrder(orderId: string): Promise<Shipment | undefined> {
    const { rows } = await this.db.query<ShipmentRow>(`SELECT ${columns} FROM shipments WHERE order_id = $1 FOR UPDATE`, [orderId]);
    return rows[0] && toShipment(rows[0]);
  }

  /**
   * Inserts the order's first shipment row. Undefined when a row already exists
   * for the order, or when the tracking number is taken (the caller tells them
   * apart by reading the order's row again).
   */
  async insert(shipment: NewShipment): Promise<Shipment | undefined> {
    const { rows } = await this.db.query<ShipmentRow>(
      `INSERT INTO shipments (id, order_id, customer_id, status, tracking_number, carrier, address, lines, reject_code, reject_reason, cancelled_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $4 = 'CANCELLED' THEN now() END)
       ON CONFLICT DO NOTHING
       RETURNING ${columns}`,
      [
        randomUUID(),
        shipment.orderId,
        shipment.customerId,
        shipment.status,
        shipment.trackingNumber,
        shipment.carrier,
        shipment.address && JSON.stringify(shipment.address),
        shipment.lines && JSON.stringify(shipment.lines),
        shipment.reject?.code ?? null,
        shipment.reject?.reason ?? null,
      ],
    );
    return rows[0] && toShipment(rows[0]);
  }

  /** Moves shipment `id` from `from` to CANCELLED or DISPATCHED, stamping when. */
  async transition(id: string, from: ShipmentStatus, to: 'CANCELLED' | 'DISPATCHED'): Promise<Shipment> {
    const stamp = to === 'CANCELLED' ? 'cancelled_at' : 'dispatched_at';
    const { rows } = await this.db.query<ShipmentRow>(
      `UPDATE shipments SET status = $3, ${stamp} = now(), updated_at = now()
        WHERE id = $1 AND status = $2
        RETURNING ${columns}`,
      [id, from, to],
    );
    if (!rows[0]) throw new Error(`shipment ${id} is no longer ${from}`);
    return toShipment(rows[0]);
  }

  /** One page of shipments, newest first, and how many match in all. Tombstones belong to no customer, so only admins see them. */
  async list(query: ShipmentQuery): Promise<{ items: Shipment[]; total: number }> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (query.customerId !== undefined) conditions.push(`customer_id = $${params.push(query.customerId)}`);
    if (query.orderId !== undefined) conditions.push(`order_id = $${params.push(query.orderId)}`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const { rows } = await this.db.query<ShipmentRow & { total: string }>(
      `SELECT ${columns}, count(*) OVER () AS total FROM shipments ${where}
        ORDER BY created_at DESC, id DESC
        LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, query.pageSize, (query.page - 1) * query.pageSize],
    );
    if (rows[0]) return { items: rows.map(toShipment), total: Number(rows[0].total) };
    if (query.page === 1) return { items: [], total: 0 };
    // Past the last page: still report how many there are.
    const count = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM shipments ${where}`, params);
    return { items: [], total: Number(count.rows[0]?.total ?? 0) };
  }

  /** Shipment `id` if `customerId` is its customer (undefined: any customer's); someone else's looks exactly like an unknown one. */
  async find(id: string, customerId: string | undefined): Promise<Shipment | undefined> {
    const { rows } = await this.db.query<ShipmentRow>(
      `SELECT ${columns} FROM shipments WHERE id = $1 AND ($2::uuid IS NULL OR customer_id = $2)`,
      [id, customerId ?? null],
    );
    return rows[0] && toShipment(rows[0]);
  }
}
