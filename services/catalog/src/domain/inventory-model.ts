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
} from './reservation.ts';

export interface ModelProduct extends ProductStock {
  sold: number;
  /** The sum of every stock adjustment: what the warehouse ever received, less what was written off. */
  received: number;
}

export interface ModelReservation {
  status: ReservationStatus;
  lines: StockLine[];
  rejectCode: string | null;
  rejectReason: string | null;
}

/**
 * The catalog's inventory in memory, following the rules of ./reservation.ts
 * with plain arithmetic. The property tests drive it with random commands and
 * hold the database to the same answers and the same counts.
 */
export class InventoryModel {
  readonly products = new Map<string, ModelProduct>();
  readonly reservations = new Map<string, ModelReservation>();

  addProduct(id: string, name: string, onHand: number): void {
    this.products.set(id, { name, active: true, onHand, reserved: 0, sold: 0, received: onHand });
  }

  setActive(id: string, active: boolean): void {
    this.products.get(id)!.active = active;
  }

  /** An admin adjustment of on-hand stock; false (nothing changes) below zero or below what is reserved. */
  adjust(id: string, delta: number): boolean {
    const product = this.products.get(id)!;
    if (product.onHand + delta < Math.max(0, product.reserved)) return false;
    product.onHand += delta;
    product.received += delta;
    return true;
  }

  reserve(orderId: string, lines: readonly StockLine[]): Answer {
    const existing = this.reservations.get(orderId);
    if (existing) return repeatedReserveAnswer(existing);
    const merged = mergeLines(lines);
    const refusal = reserveRefusal(merged, this.products);
    if (refusal) {
      this.reservations.set(orderId, { status: 'REJECTED', lines: [], rejectCode: refusal.code, rejectReason: refusal.reason });
      return failed(refusal);
    }
    for (const line of merged) this.products.get(line.productId)!.reserved += line.quantity;
    this.reservations.set(orderId, { status: 'RESERVED', lines: merged, rejectCode: null, rejectReason: null });
    return succeeded;
  }

  commit(orderId: string): Answer {
    const reservation = this.reservations.get(orderId);
    switch (commitStep(reservation?.status)) {
      case 'done':
        return succeeded;
      case 'closed':
        return failed(orderClosed);
      case 'commit':
        for (const line of reservation!.lines) this.move(line, { onHand: -1, reserved: -1, sold: +1 });
        break;
      case 'retake': {
        const refusal = retakeRefusal(reservation!.lines, this.products);
        if (refusal) return failed(refusal);
        for (const line of reservation!.lines) this.move(line, { onHand: -1, reserved: 0, sold: +1 });
        break;
      }
    }
    reservation!.status = 'COMMITTED';
    return succeeded;
  }

  release(orderId: string): Answer {
    const reservation = this.reservations.get(orderId);
    switch (releaseStep(reservation?.status)) {
      case 'done':
        return succeeded;
      case 'tombstone':
        this.reservations.set(orderId, { status: 'RELEASED', lines: [], rejectCode: null, rejectReason: null });
        return succeeded;
      case 'unreserve':
        for (const line of reservation!.lines) this.move(line, { onHand: 0, reserved: -1, sold: 0 });
        break;
      case 'return':
        for (const line of reservation!.lines) this.move(line, { onHand: +1, reserved: 0, sold: -1 });
        break;
    }
    reservation!.status = 'RELEASED';
    return succeeded;
  }

  /** The sweeper reaching `orderId` after its expiry; true when it held stock that is now free. */
  expire(orderId: string): boolean {
    const reservation = this.reservations.get(orderId);
    if (reservation?.status !== 'RESERVED') return false;
    for (const line of reservation.lines) this.move(line, { onHand: 0, reserved: -1, sold: 0 });
    reservation.status = 'EXPIRED';
    return true;
  }

  private move(line: StockLine, sign: { onHand: number; reserved: number; sold: number }): void {
    const product = this.products.get(line.productId)!;
    product.onHand += sign.onHand * line.quantity;
    product.reserved += sign.reserved * line.quantity;
    product.sold += sign.sold * line.quantity;
  }
}

/** The stock of one product with the reservation lines that explain it. */
export interface StockLedger {
  onHand: number;
  reserved: number;
  sold: number;
  /** The sum of the product's stock adjustments. */
  received: number;
  /** The quantities of the product in RESERVED reservations. */
  held: number;
  /** The quantities of the product in COMMITTED reservations. */
  committed: number;
}

/**
 * Every way `ledger` breaks the inventory's invariants (empty when it holds):
 * no count is negative, nothing reserved beyond what is on hand, every unit
 * received is on hand or sold, reserved and sold are exactly what the open and
 * the committed reservations say.
 */
export function stockViolations(ledger: StockLedger): string[] {
  const violations: string[] = [];
  if (ledger.reserved < 0) violations.push(`reserved ${ledger.reserved} < 0`);
  if (ledger.sold < 0) violations.push(`sold ${ledger.sold} < 0`);
  if (ledger.onHand < ledger.reserved) violations.push(`on hand ${ledger.onHand} < reserved ${ledger.reserved}`);
  if (ledger.received !== ledger.onHand + ledger.sold) violations.push(`received ${ledger.received} ≠ on hand ${ledger.onHand} + sold ${ledger.sold}`);
  if (ledger.reserved !== ledger.held) violations.push(`reserved ${ledger.reserved} ≠ ${ledger.held} held by open reservations`);
  if (ledger.sold !== ledger.committed) violations.push(`sold ${ledger.sold} ≠ ${ledger.committed} in committed reservations`);
  return violations;
}

/** The ledger of every product of `model`, by id. */
export function modelLedgers(model: InventoryModel): Map<string, StockLedger> {
  const ledgers = new Map<string, StockLedger>();
  for (const [id, p] of model.products) ledgers.set(id, { onHand: p.onHand, reserved: p.reserved, sold: p.sold, received: p.received, held: 0, committed: 0 });
  for (const reservation of model.reservations.values()) {
    for (const line of reservation.lines) {
      const ledger = ledgers.get(line.productId)!;
      if (reservation.status === 'RESERVED') ledger.held += line.quantity;
      if (reservation.status === 'COMMITTED') ledger.committed += line.quantity;
    }
  }
  return ledgers;
}
