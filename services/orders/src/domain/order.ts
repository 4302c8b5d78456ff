/**
 * The Order aggregate: its state is a left fold of its events. The checkout saga
 * lives in the same stream — which step is in flight, what must be compensated —
 * so the state persisted before each step is simply the events appended so far.
 */
import type { Money } from '@bazaar/contracts';
import type { Address, CheckoutStep, Compensation, OrderEvent, PaymentMethod, PricedLine } from './order-events.ts';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';

/**
 * The forward steps of checkout, in stages: every step of a stage is sent at
 * once, and the next stage starts when all of them succeeded. Stock is reserved,
 * then the payment authorized, then the shipment booked; once the shipment is
 * booked nothing can refuse the order but the two bookkeeping steps themselves,
 * so the payment is captured and the stock committed side by side (one round trip
 * less on the way to CONFIRMED). Each undo copes with the other having happened
 * or not: a refund of an uncaptured payment voids it, a release of committed
 * stock takes the units back.
 */
export const checkoutStages: readonly (readonly CheckoutStep[])[] = [['reserve-stock'], ['authorize-payment'], ['create-shipment'], ['capture-payment', 'commit-stock']];

/** Every forward step, in stage order. */
export const checkoutSteps: readonly CheckoutStep[] = checkoutStages.flat();

export interface TimelineEntry {
  at: string;
  event: string;
  detail?: string;
}

export interface Order {
  id: string;
  /** The version of the stream this state was folded from (0: no events). */
  version: number;
  customerId: string;
  lines: PricedLine[];
  total: Money;
  shippingAddress: Address;
  payment: PaymentMethod;
  status: OrderStatus;
  /** Forward: the steps of the current stage in flight (sent, not yet succeeded). Compensating: the compensations left, the first in flight. */
  phase: 'forward' | 'compensating' | 'done';
  steps: CheckoutStep[];
  compensations: Compensation[];
  failure: { code: string; reason: string } | null;
  paymentId: string | null;
  shipment: { id: string; trackingNumber: string } | null;
  placedAt: string;
  updatedAt: string;
  timeline: TimelineEntry[];
}

/** The state an order's snapshot stores; bump when `Order` changes shape so old snapshots are ignored. */
export const ORDER_STATE_VERSION = 2;

export function emptyOrder(id: string): Order {
  return {
    id,
    version: 0,
    customerId: '',
    lines: [],
    total: { amount: 0, currency: 'EUR' },
    shippingAddress: { name: '', line1: '', city: '', postalCode: '', country: '' },
    payment: { token: '', brand: '', last4: '' },
    status: 'PENDING',
    phase: 'forward',
    steps: [],
    compensations: [],
    failure: null,
    paymentId: null,
    shipment: null,
    placedAt: '',
    updatedAt: '',
    timeline: [],
  };
}

/**
 * What must be undone once checkout fails, in reverse order of acquisition: the
 * shipment, then the money, then the stock. `reached` are the steps whose effect
 * may exist: a step that answered no holds nothing, but a step that timed out (or
 * was in flight when the customer cancelled) may have happened, so it is
 * compensated too — every compensation is a no-op where there is nothing to undo.
 */
export function compensationsFor(reached: Iterable<CheckoutStep>): Compensation[] {
  const may = new Set(reached);
  const plan: Compensation[] = [];
  if (may.has('create-shipment')) plan.push('cancel-shipment');
  if (may.has('capture-payment')) plan.push('refund-payment');
  else if (may.has('authorize-payment')) plan.push('void-payment');
  if (may.has('reserve-stock') || may.has('commit-stock')) plan.push('release-stock');
  return plan;
}

/** The stage the saga is in: the one holding the steps in flight (-1 before the first). */
function stageOf(order: Order): number {
  const step = order.steps[0];
  return step === undefined ? -1 : checkoutStages.findIndex((stage) => stage.includes(step));
}

/**
 * The steps whose effect may exist when checkout stops at `order` (forward):
 * every step of the stages before, and of the current stage every step but
 * `refused` (one that answered no). Steps of the current stage that are no longer
 * in flight succeeded; those in flight may yet happen.
 */
function mayHaveHappened(order: Order, refused?: CheckoutStep): CheckoutStep[] {
  const stage = stageOf(order);
  return checkoutStages.slice(0, stage + 1).flat().filter((step) => step !== refused);
}

const describe: { [T in OrderEvent['type']]: (data: Extract<OrderEvent, { type: T }>['data']) => TimelineEntry['event'] } = {
  OrderPlaced: () => 'placed',
  CheckoutStepSucceeded: (d) => `${d.step}: done`,
  CheckoutStepFailed: (d) => `${d.step}: failed`,
  CancellationRequested: () => 'cancellation requested',
  CompensationSucceeded: (d) => `${d.compensation}: done`,
  OrderConfirmed: () => 'confirmed',
  OrderCancelled: () => 'cancelled',
};

function detailOf(event: OrderEvent): string | undefined {
  switch (event.type) {
    case 'CheckoutStepFailed':
    case 'OrderCancelled':
      return event.data.reason;
    case 'CheckoutStepSucceeded':
      return event.data.trackingNumber ? `tracking number ${event.data.trackingNumber}` : undefined;
    default:
      return undefined;
  }
}

/** Applies one event. Pure: the same events always fold to the same state. */
export function evolve(order: Order, event: OrderEvent, at: string): Order {
  const next: Order = { ...order, version: order.version + 1, updatedAt: at };
  const entry: TimelineEntry = { at, event: (describe[event.type] as (d: unknown) => string)(event.data) };
  const detail = detailOf(event);
  if (detail) entry.detail = detail;
  next.timeline = [...order.timeline, entry];
  switch (event.type) {
    case 'OrderPlaced': {
      const d = event.data;
      return { ...next, customerId: d.customerId, lines: d.lines, total: d.total, shippingAddress: d.shippingAddress, payment: d.payment, placedAt: d.placedAt, steps: [...checkoutStages[0]!] };
    }
    case 'CheckoutStepSucceeded': {
      const d = event.data;
      const left = order.steps.filter((step) => step !== d.step);
      // The stage is done: the next one starts (none after the last: the order is confirmed next).
      const steps = left.length > 0 ? left : [...(checkoutStages[stageOf(order) + 1] ?? [])];
      return {
        ...next,
        steps,
        paymentId: d.paymentId ?? next.paymentId,
        shipment: d.shipmentId && d.trackingNumber ? { id: d.shipmentId, trackingNumber: d.trackingNumber } : next.shipment,
      };
    }
    case 'CheckoutStepFailed': {
      const d = event.data;
      return {
        ...next,
        phase: 'compensating',
        steps: [],
        failure: { code: d.code, reason: d.reason },
        compensations: compensationsFor(mayHaveHappened(order, d.code === 'STEP_TIMED_OUT' ? undefined : d.step)),
      };
    }
    case 'CancellationRequested':
      return {
        ...next,
        phase: 'compensating',
        steps: [],
        failure: { code: 'CANCELLED_BY_CUSTOMER', reason: 'You cancelled the order.' },
        compensations: compensationsFor(mayHaveHappened(order)),
      };
    case 'CompensationSucceeded':
      return { ...next, compensations: next.compensations.filter((c) => c !== event.data.compensation) };
    case 'OrderConfirmed':
      return { ...next, status: 'CONFIRMED', phase: 'done', steps: [] };
    case 'OrderCancelled':
      return { ...next, status: 'CANCELLED', phase: 'done', steps: [], compensations: [], failure: { code: event.data.code, reason: event.data.reason } };
  }
}

export function fold(id: string, events: ReadonlyArray<{ event: OrderEvent; at: string }>, from: Order = emptyOrder(id)): Order {
  return events.reduce((state, { event, at }) => evolve(state, event, at), from);
}
