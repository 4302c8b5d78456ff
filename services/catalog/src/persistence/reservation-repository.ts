import { writeBehind, type Database, type Outbox, type Queryable } from '@bazaar/chassis';
import {
  commitStep,
  failed,
  mergeLines,
  orderClosed,
  releaseStep,
  repeatedReserveAnswer,
  reserveRefusal,
  retakeRefusal,
  succeeded,
  type Answer,
  type ProductStock,
  type ReservationStatus,
  type StockLine,
} from '../domain/reservation.ts';
import { announceStockChange, type StockRow } from './product-repository.ts';

interface ReservationRow {
  status: ReservationStatus;
  reject_code: string | null;
  reject_reason: string | null;
}

/** How a change moves each unit of a line: -1, 0 or +1 on each count. */
interface Movement {
  onHand: number;
  reserved: number;
  sold: number;
}

/**
 * Reservations of stock for orders, worked on inside the transaction it is
 * given (a message handler's, so the change, its replies and the inbox record
 * commit together). Every path locks the reservation first, then its products in
 * id order: two transactions never wait on each other in a cycle.
 */
export class ReservationRepository {
  private readonly tx: Queryable;
  private readonly outbox: Outbox;
  constructor(tx: Queryable, outbox: Outbox) {
    this.tx = tx;
    this.outbox = outbox;
  }

  /** Holds every line of `orderId` until `expiresAt`, or none of them. Answers a repeat as the first time. */
  async reserve(orderId: string, lines: readonly StockLine[], expiresAt: Date): Promise<Answer> {
    const existing = await this.find(orderId);
    if (existing) return repeatedReserveAnswer({ status: existing.status, rejectCode: existing.reject_code, rejectReason: existing.reject_reason });
    const merged = mergeLines(lines);
    const stock = await lockProducts(this.tx, merged.map((l) => l.productId));
    const refusal = reserveRefusal(merged, stock);
    if (refusal) {
      await writeBehind(this.tx, `INSERT INTO reservations (order_id, status, reject_code, reject_reason) VALUES ($1, 'REJECTED', $2, $3)`, [orderId, refusal.code, refusal.reason]);
      return failed(refusal);
    }
    // Nothing in this transaction reads them back (a later command of the same order comes in a later one): they go with the COMMIT.
    await writeBehind(this.tx, `INSERT INTO reservations (order_id, status, expires_at) VALUES ($1, 'RESERVED', $2)`, [orderId, expiresAt]);
    await writeBehind(this.tx, 'INSERT INTO reservation_lines (order_id, product_id, quantity) SELECT $1, * FROM unnest($2::uuid[], $3::int[])', [
      orderId,
      merged.map((l) => l.productId),
      merged.map((l) => l.quantity),
    ]);
    await moveStock(this.tx, this.outbox, merged, { onHand: 0, reserved: +1, sold: 0 }, `reserved for order ${orderId}`, 'available');
    return succeeded;
  }

  /** The order is confirmed: its held units leave the warehouse as sold. */
  async commit(orderId: string): Promise<Answer> {
    const existing = await this.find(orderId);
    const step = commitStep(existing?.status);
    if (step === 'done') return succeeded;
    if (step === 'closed') return failed(orderClosed);
    const lines = await this.linesOf(orderId);
    const stock = await lockProducts(this.tx, lines.map((l) => l.productId));
    if (step === 'commit') {
      await moveStock(this.tx, this.outbox, lines, { onHand: -1, reserved: -1, sold: +1 }, `sold to order ${orderId}`);
    } else {
      // Expired: the hold is gone, but the units may still be free to take.
      const refusal = retakeRefusal(lines, stock);
      if (refusal) return failed(refusal);
      await moveStock(this.tx, this.outbox, lines, { onHand: -1, reserved: 0, sold: +1 }, `sold to order ${orderId} after its reservation lapsed`, 'available');
    }
    await this.setStatus(orderId, 'COMMITTED');
    return succeeded;
  }

  /** Compensation: gives back what the order holds or bought; always succeeds. */
  async release(orderId: string): Promise<Answer> {
    const existing = await this.find(orderId);
    const step = releaseStep(existing?.status);
    if (step === 'done') return succeeded;
    if (step === 'tombstone') {
      // Never seen: remember the order is closed, so a late reserve is refused.
      await writeBehind(this.tx, `INSERT INTO reservations (order_id, status) VALUES ($1, 'RELEASED')`, [orderId]);
      return succeeded;
    }
    const lines = await this.linesOf(orderId);
    await lockProducts(this.tx, lines.map((l) => l.productId));
    if (step === 'unreserve') await moveStock(this.tx, this.outbox, lines, { onHand: 0, reserved: -1, sold: 0 }, `released by order ${orderId}`);
    else await moveStock(this.tx, this.outbox, lines, { onHand: +1, reserved: 0, sold: -1 }, `returned by cancelled order ${orderId}`);
    await this.setStatus(orderId, 'RELEASED');
    return succeeded;
  }

  private async find(orderId: string): Promise<ReservationRow | undefined> {
    const { rows } = await this.tx.query<ReservationRow>('SELECT status, reject_code, reject_reason FROM reservations WHERE order_id = $1 FOR UPDATE', [orderId]);
    return rows[0];
  }

  private async linesOf(orderId: string): Promise<StockLine[]> {
    const { rows } = await this.tx.query<{ product_id: string; quantity: number }>('SELECT product_id, quantity FROM reservation_lines WHERE order_id = $1', [orderId]);
    return rows.map((r) => ({ productId: r.product_id, quantity: r.quantity }));
  }

  private async setStatus(orderId: string, status: ReservationStatus): Promise<void> {
    await writeBehind(this.tx, 'UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1', [orderId, status]);
  }
}

/**
 * Expires up to `limit` reservations whose hold has lapsed, giving their units
 * back, in one transaction; returns their order ids. Rows another replica (or a
 * commit or release) has locked are skipped, not waited for: they are handled
 * there, or on the next sweep.
 */
export async function expireDueReservations(db: Database, outbox: Outbox, limit = 100): Promise<string[]> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ order_id: string }>(
      `SELECT order_id FROM reservations
        WHERE status = 'RESERVED' AND expires_at <= now()
        ORDER BY expires_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    const orderIds = rows.map((r) => r.order_id);
    if (orderIds.length === 0) return [];
    const held = await tx.query<{ product_id: string; quantity: number }>(
      'SELECT product_id, sum(quantity)::int AS quantity FROM reservation_lines WHERE order_id = ANY($1::uuid[]) GROUP BY product_id',
      [orderIds],
    );
    const lines = held.rows.map((r) => ({ productId: r.product_id, quantity: r.quantity }));
    await lockProducts(tx, lines.map((l) => l.productId));
    const reason = orderIds.length === 1 ? `reservation of order ${orderIds[0]} expired` : `${orderIds.length} reservations expired`;
    await moveStock(tx, outbox, lines, { onHand: 0, reserved: -1, sold: 0 }, reason);
    await tx.query(`UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE order_id = ANY($1::uuid[])`, [orderIds]);
    return orderIds;
  });
}

/** Locks the rows of `productIds` in id order (one order for everyone: no deadlocks) and reads their stock. */
async function lockProducts(tx: Queryable, productIds: readonly string[]): Promise<Map<string, ProductStock>> {
  const { rows } = await tx.query<{ id: string; name: string; active: boolean; on_hand: number; reserved: number }>(
    'SELECT id, name, active, on_hand, reserved FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
    [productIds],
  );
  return new Map(rows.map((r) => [r.id, { name: r.name, active: r.active, onHand: r.on_hand, reserved: r.reserved }]));
}

/**
 * Applies `movement` to every line's product in one UPDATE, and announces each
 * product's new stock. With `guard: 'available'` a product only changes if it
 * has the units free: the rows are locked and checked already, so a product
 * left out means a bug, and the transaction is abandoned rather than oversell.
 * The table's CHECKs are the last line of defence.
 */
async function moveStock(tx: Queryable, outbox: Outbox, lines: readonly StockLine[], movement: Movement, reason: string, guard?: 'available'): Promise<void> {
  if (lines.length === 0) return;
  const { rows } = await tx.query<StockRow>(
    `UPDATE products p
        SET on_hand = p.on_hand + $3 * l.quantity,
            reserved = p.reserved + $4 * l.quantity,
            sold = p.sold + $5 * l.quantity,
            version = p.version + 1,
            updated_at = now()
       FROM unnest($1::uuid[], $2::int[]) AS l (product_id, quantity)
      WHERE p.id = l.product_id${guard === 'available' ? ' AND p.on_hand - p.reserved >= l.quantity' : ''}
      RETURNING p.id, p.on_hand, p.reserved, p.version`,
    [lines.map((l) => l.productId), lines.map((l) => l.quantity), movement.onHand, movement.reserved, movement.sold],
  );
  if (rows.length !== lines.length) throw new Error(`stock of ${lines.length - rows.length} product(s) changed under their lock (${reason})`);
  for (const row of rows) await announceStockChange(outbox, tx, row, reason);
}
