/**
 * How each saga action is addressed: which participant runs it, the command
 * that asks for it and the reply that answers it.
 */
import type { Envelope, MessageName } from '@bazaar/contracts/messages';
import type { Outbox, Queryable } from '@bazaar/chassis';
import type { Action } from '../domain/checkout.ts';
import type { Order } from '../domain/order.ts';

const participants: Record<Action, 'catalog' | 'payments' | 'shipping'> = {
  'reserve-stock': 'catalog',
  'commit-stock': 'catalog',
  'release-stock': 'catalog',
  'authorize-payment': 'payments',
  'capture-payment': 'payments',
  'void-payment': 'payments',
  'refund-payment': 'payments',
  'create-shipment': 'shipping',
  'cancel-shipment': 'shipping',
};

export const sagaActions = Object.keys(participants) as Action[];

/** The services that take part in checkout: every order needs each of them. */
export const sagaParticipants = [...new Set(Object.values(participants))];

/** The service that runs `action`. */
export function participantOf(action: Action): string {
  return participants[action];
}

/** The reply that answers `action`, e.g. `payments.void-payment-result.v1`. */
export function replyName(action: Action): MessageName {
  return `${participants[action]}.${action}-result.v1` as MessageName;
}

/** Writes the command for `action` on `order` to the outbox, addressed to its participant, replies to orders. */
export async function sendCommand(tx: Queryable, outbox: Outbox, order: Order, action: Action, now: Date, reservationTtlMs: number): Promise<Envelope> {
  const orderId = order.id;
  const reason = order.failure?.reason ?? 'Checkout did not complete.';
  const options = { key: orderId, destination: participants[action], replyTo: 'orders' };
  const lines = order.lines.map((line) => ({ productId: line.productId, quantity: line.quantity }));
  switch (action) {
    case 'reserve-stock':
      return outbox.add(tx, 'catalog.reserve-stock.v1', { orderId, lines, expiresAt: new Date(now.getTime() + reservationTtlMs).toISOString() }, options);
    case 'commit-stock':
      return outbox.add(tx, 'catalog.commit-stock.v1', { orderId }, options);
    case 'release-stock':
      return outbox.add(tx, 'catalog.release-stock.v1', { orderId, reason }, options);
    case 'authorize-payment':
      return outbox.add(tx, 'payments.authorize-payment.v1', { orderId, customerId: order.customerId, amount: order.total, paymentToken: order.payment.token }, options);
    case 'capture-payment':
      return outbox.add(tx, 'payments.capture-payment.v1', { orderId }, options);
    case 'void-payment':
      return outbox.add(tx, 'payments.void-payment.v1', { orderId, reason }, options);
    case 'refund-payment':
      return outbox.add(tx, 'payments.refund-payment.v1', { orderId, reason }, options);
    case 'create-shipment':
      return outbox.add(tx, 'shipping.create-shipment.v1', { orderId, customerId: order.customerId, address: order.shippingAddress, lines }, options);
    case 'cancel-shipment':
      return outbox.add(tx, 'shipping.cancel-shipment.v1', { orderId, reason }, options);
  }
}
