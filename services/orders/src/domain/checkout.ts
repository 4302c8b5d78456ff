/**
 * The checkout saga's decisions, pure: given an order's state and what just
 * happened (a reply, a deadline, the customer), which events to append. What to
 * wait on next follows from the resulting state alone (`pendingCommands`), so a
 * saga restarted from its stream knows exactly what it was waiting on.
 */
import type { CheckoutStep, Compensation, OrderEvent } from './order-events.ts';
import { evolve, type Order } from './order.ts';

export type Action = CheckoutStep | Compensation;

export interface Reply {
  action: Action;
  outcome: 'succeeded' | 'failed';
  code?: string | undefined;
  reason?: string | undefined;
  paymentId?: string | undefined;
  shipmentId?: string | undefined;
  trackingNumber?: string | undefined;
}

const participantOf: Record<CheckoutStep, string> = {
  'reserve-stock': 'inventory',
  'authorize-payment': 'payment',
  'create-shipment': 'shipping',
  'capture-payment': 'payment',
  'commit-stock': 'inventory',
};

/** Appends the closing event when a saga has nothing left to compensate. */
function closeIfCompensated(order: Order, events: OrderEvent[], now: string): OrderEvent[] {
  let state = order;
  for (const event of events) state = evolve(state, event, now);
  if (state.phase === 'compensating' && state.compensations.length === 0) {
    events.push({ type: 'OrderCancelled', data: { code: state.failure!.code, reason: state.failure!.reason, cancelledAt: now } });
  }
  return events;
}

/** A participant answered. A reply for anything but what the saga waits on is stale and changes nothing. */
export function onReply(order: Order, reply: Reply, now: string): OrderEvent[] {
  if (order.phase === 'forward' && order.steps.includes(reply.action as CheckoutStep)) {
    const step = reply.action as CheckoutStep;
    if (reply.outcome === 'failed') {
      const failed: OrderEvent = {
        type: 'CheckoutStepFailed',
        data: { step, code: reply.code ?? 'STEP_FAILED', reason: reply.reason ?? `The ${participantOf[step]} step of your order failed.` },
      };
      return closeIfCompensated(order, [failed], now);
    }
    const succeeded: OrderEvent = { type: 'CheckoutStepSucceeded', data: { step } };
    if (reply.paymentId) succeeded.data.paymentId = reply.paymentId;
    if (reply.shipmentId) succeeded.data.shipmentId = reply.shipmentId;
    if (reply.trackingNumber) succeeded.data.trackingNumber = reply.trackingNumber;
    const events: OrderEvent[] = [succeeded];
    // The last step of the last stage: nothing left to do.
    if (evolve(order, succeeded, now).steps.length === 0) events.push({ type: 'OrderConfirmed', data: { confirmedAt: now } });
    return events;
  }
  if (order.phase === 'compensating' && order.compensations[0] === reply.action && reply.outcome === 'succeeded') {
    return closeIfCompensated(order, [{ type: 'CompensationSucceeded', data: { compensation: reply.action as Compensation } }], now);
  }
  return [];
}

/**
 * The stage in flight missed its deadline: the effect of its steps is unknown, so
 * they are compensated with the steps before them. A compensation past its
 * deadline is not an event: it is sent again (the orchestrator counts attempts).
 */
export function onDeadline(order: Order, now: string): OrderEvent[] {
  if (order.phase !== 'forward' || order.steps.length === 0) return [];
  const step = order.steps[0]!;
  return closeIfCompensated(
    order,
    [{ type: 'CheckoutStepFailed', data: { step, code: 'STEP_TIMED_OUT', reason: `The ${participantOf[step]} step did not complete in time, so your order was cancelled; nothing was charged.` } }],
    now,
  );
}

export class NotCancellableError extends Error {}

/** The customer cancels: allowed until the order is confirmed (it ships at once after). */
export function onCancel(order: Order, now: string): OrderEvent[] {
  if (order.status === 'CANCELLED' || order.phase === 'compensating') return [];
  if (order.status === 'CONFIRMED') throw new NotCancellableError('The order is confirmed and on its way; it can no longer be cancelled.');
  return closeIfCompensated(order, [{ type: 'CancellationRequested', data: { by: 'customer' } }], now);
}

/** What the saga waits on in this state: the steps in flight, the compensation in flight, or nothing once the order is final. */
export function pendingCommands(order: Order): Action[] {
  if (order.phase === 'forward') return order.steps;
  if (order.phase === 'compensating') return order.compensations.slice(0, 1);
  return [];
}
