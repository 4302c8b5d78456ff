/**
 * The Order aggregate: its state is a left fold of its events. The checkout saga
 * lives in the same stream — which step is in flight, what must be compensated —
 * so the state persisted before each step is simply the events appended so far.
 */
import type { Money } from '@bazaar/contracts';
import type { Address, CheckoutStep, Compensation, OrderEvent, PaymentMethod, PricedLine } from './order-events.ts';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';

/** The forward steps of checkout, in order. */
export const checkoutSteps: readonly CheckoutStep[] = ['reserve-stock', 'authorize-payment', 'create-shipment', 'capture-payment', 'commit-stock'];

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
  /** Forward: the step in flight. Compensating: the compensations left, the first in flight. */
  phase: 'forward' | 'compensating' | 'done';
  step: CheckoutStep | null;
  compensations: Compensation[];
  failure: { code: string; reason: string } | null;
  paymentId: string | null;
  shipment: { id: string; trackingNumber: string } | null;
  placedAt: string;
  updatedAt: string;
  timeline: TimelineEntry[];
}

/** The state an order's snapshot stores; bump when `Order` changes shape so old snapshots are ignored. */
export const ORDER_STATE_VERSION = 1;

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
    step: null,
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
 * What must be undone once checkout fails, in reverse order of acquisition:
 * the shipment, then the money, then the stock. `through` is the last step whose
 * effect may exist: a step that answered no holds nothing, but a step that timed
 * out (or was in flight when the customer cancelled) may have happened, so it is
 * compensated too — every compensation is a no-op where there is nothing to undo.
 */
export function compensationsFor(through: CheckoutStep | null): Compensation[] {
  const reached = through === null ? -1 : checkoutSteps.indexOf(through);
  const plan: Compensation[] = [];
  if (reached >= checkoutSteps.indexOf('create-shipment')) plan.push('cancel-shipment');
  if (reached >= checkoutSteps.indexOf('capture-payment')) plan.push('refund-payment');
  else if (reached >= checkoutSteps.indexOf('authorize-payment')) plan.push('void-payment');
  if (reached >= checkoutSteps.indexOf('reserve-stock')) plan.push('release-stock');
  return plan;
}

function previousStep(step: CheckoutStep): CheckoutStep | null {
  return checkoutSteps[checkoutSteps.indexOf(step) - 1] ?? null;
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
      return { ...next, customerId: d.customerId, lines: d.lines, total: d.total, shippingAddress: d.shippingAddress, payment: d.payment, placedAt: d.placedAt, step: checkoutSteps[0]! };
    }
    case 'CheckoutStepSucceeded': {
      const d = event.data;
      const following = checkoutSteps[checkoutSteps.indexOf(d.step) + 1] ?? null;
      return {
        ...next,
        step: following,
        paymentId: d.paymentId ?? next.paymentId,
        shipment: d.shipmentId && d.trackingNumber ? { id: d.shipmentId, trackingNumber: d.trackingNumber } : next.shipment,
      };
    }
    case 'CheckoutStepFailed': {
      const d = event.data;
      const mayHaveHappened = d.code === 'STEP_TIMED_OUT';
      return {
        ...next,
        phase: 'compensating',
        step: null,
        failure: { code: d.code, reason: d.reason },
        compensations: compensationsFor(mayHaveHappened ? d.step : previousStep(d.step)),
      };
    }
    case 'CancellationRequested':
      return {
        ...next,
        phase: 'compensating',
        step: null,
        failure: { code: 'CANCELLED_BY_CUSTOMER', reason: 'You cancelled the order.' },
        compensations: compensationsFor(order.step),
      };
    case 'CompensationSucceeded':
      return { ...next, compensations: next.compensations.filter((c) => c !== event.data.compensation) };
    case 'OrderConfirmed':
      return { ...next, status: 'CONFIRMED', phase: 'done', step: null };
    case 'OrderCancelled':
      return { ...next, status: 'CANCELLED', phase: 'done', step: null, compensations: [], failure: { code: event.data.code, reason: event.data.reason } };
  }
}

export function fold(id: string, events: ReadonlyArray<{ event: OrderEvent; at: string }>, from: Order = emptyOrder(id)): Order {
  return events.reduce((state, { event, at }) => evolve(state, event, at), from);
}
