import { randomUUID } from 'node:crypto';
import type { Queryable } from '@bazaar/chassis';
import type { Payment, PaymentStatus } from '../domain/payment.ts';

interface PaymentRow {
  id: string;
  order_id: string;
  customer_id: string | null;
  amount: string;
  currency: string | null;
  status: PaymentStatus;
  brand: string | null;
  last4: string | null;
  decline_code: string | null;
  authorized_amount: string | null;
  captured_amount: string;
  refunded_amount: string;
  created_at: Date;
  updated_at: Date;
}

const columns = 'id, order_id, customer_id, amount, currency, status, brand, last4, decline_code, authorized_amount, captured_amount, refunded_amount, created_at, updated_at';

/** bigint columns arrive as text; amounts are bounded well below 2^53 (Money's maximum). */
function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    orderId: row.order_id,
    customerId: row.customer_id,
    amount: Number(row.amount),
    currency: row.currency,
    status: row.status,
    brand: row.brand,
    last4: row.last4,
    declineCode: row.decline_code,
    authorizedAmount: row.authorized_amount === null ? null : Number(row.authorized_amount),
    capturedAmount: Number(row.captured_amount),
    refundedAmount: Number(row.refunded_amount),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A payment as the authorize command creates it. */
export interface NewPayment {
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
  brand: string | null;
  last4: string | null;
  /** Null when authorized; the refusal's code when declined. */
  declineCode: string | null;
}

export interface PaymentQuery {
  /** Only this customer's payments; undefined for everyone's (admins). */
  customerId: string | undefined;
  orderId: string | undefined;
  page: number;
  pageSize: number;
}

/** Tombstones are no customer's payment: they are left out of every listing. */
const notTombstone = 'customer_id IS NOT NULL';

/**
 * Payments in the service's own database, one row per order. Message handlers
 * use it on their transaction and lock the order's row before deciding anything.
 */
export class PaymentRepository {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** The payment of `orderId`, locked until the transaction ends (run inside one). */
  async lockForOrder(orderId: string): Promise<Payment | undefined> {
    const { rows } = await this.db.query<PaymentRow>(`SELECT ${columns} FROM payments WHERE order_id = $1 FOR UPDATE`, [orderId]);
    return rows[0] && toPayment(rows[0]);
  }

  /**
   * Records the outcome of an authorization: AUTHORIZED, or DECLINED with its code.
   * Undefined when the order already has a payment (a concurrent delivery won).
   */
  async recordAuthorization(payment: NewPayment): Promise<Payment | undefined> {
    const declined = payment.declineCode !== null;
    const { rows } = await this.db.query<PaymentRow>(
      `INSERT INTO payments (id, order_id, customer_id, amount, currency, status, brand, last4, decline_code, authorized_amount)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (order_id) DO NOTHING
       RETURNING ${columns}`,
      [
        randomUUID(),
        payment.orderId,
        payment.customerId,
        payment.amount,
        payment.currency,
        declined ? 'DECLINED' : 'AUTHORIZED',
        payment.brand,
        payment.last4,
        payment.declineCode,
        declined ? null : payment.amount,
      ],
    );
    return rows[0] && toPayment(rows[0]);
  }

  /** Records a tombstone for an order never seen; undefined when the order got a payment meanwhile. */
  async recordTombstone(orderId: string): Promise<Payment | undefined> {
    const { rows } = await this.db.query<PaymentRow>(
      `INSERT INTO payments (id, order_id, amount, status) VALUES ($1, $2, 0, 'VOIDED')
       ON CONFLICT (order_id) DO NOTHING
       RETURNING ${columns}`,
      [randomUUID(), orderId],
    );
    return rows[0] && toPayment(rows[0]);
  }

  async capture(id: string): Promise<Payment> {
    return this.update(id, "status = 'CAPTURED', captured_amount = authorized_amount", 'AUTHORIZED');
  }

  async void(id: string): Promise<Payment> {
    return this.update(id, "status = 'VOIDED'", 'AUTHORIZED');
  }

  /** Refunds everything captured. */
  async refund(id: string): Promise<Payment> {
    return this.update(id, "status = 'REFUNDED', refunded_amount = captured_amount", 'CAPTURED');
  }

  /** Moves payment `id` from status `from`; the caller holds its lock, so anything else is a bug. */
  private async update(id: string, set: string, from: PaymentStatus): Promise<Payment> {
    // now() is the transaction's start, which may precede the commit that created the row.
    const { rows } = await this.db.query<PaymentRow>(
      `UPDATE payments SET ${set}, updated_at = greatest(now(), created_at) WHERE id = $1 AND status = $2 RETURNING ${columns}`,
      [id, from],
    );
    if (!rows[0]) throw new Error(`payment ${id} is no longer ${from}`);
    return toPayment(rows[0]);
  }

  /** One page of payments (no tombstones), newest first, and how many there are in all. */
  async list(query: PaymentQuery): Promise<{ items: Payment[]; total: number }> {
    const conditions = [notTombstone];
    const values: unknown[] = [];
    if (query.customerId !== undefined) conditions.push(`customer_id = $${values.push(query.customerId)}`);
    if (query.orderId !== undefined) conditions.push(`order_id = $${values.push(query.orderId)}`);
    const where = conditions.join(' AND ');
    const { rows } = await this.db.query<PaymentRow & { total: string }>(
      `SELECT ${columns}, count(*) OVER () AS total FROM payments
        WHERE ${where}
        ORDER BY created_at DESC, id DESC
        LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
      [...values, query.pageSize, (query.page - 1) * query.pageSize],
    );
    if (rows[0]) return { items: rows.map(toPayment), total: Number(rows[0].total) };
    if (query.page === 1) return { items: [], total: 0 };
    // Past the last page: still report how many there are.
    const count = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM payments WHERE ${where}`, values);
    return { items: [], total: Number(count.rows[0]?.total ?? 0) };
  }

  /** Payment `id` if it is `customerId`'s (someone else's looks exactly like an unknown one). */
  async findOwn(id: string, customerId: string): Promise<Payment | undefined> {
    const { rows } = await this.db.query<PaymentRow>(`SELECT ${columns} FROM payments WHERE id = $1 AND customer_id = $2`, [id, customerId]);
    return rows[0] && toPayment(rows[0]);
  }
}
