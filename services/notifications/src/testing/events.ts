import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { checkMessage, parseMessageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';

/** The envelope a publisher's outbox writes for `data`, checked against its contract. A new message id unless `id` is given. */
export function envelopeOf<N extends MessageName>(name: N, data: MessageData<N>, key: string, id: string = randomUUID()): Envelope {
  const { type, version } = parseMessageName(name);
  const envelope: Envelope = { id, type, version, time: new Date().toISOString(), key, correlationId: randomUUID(), causationId: null, data };
  const checked = checkMessage(envelope);
  assert.ok(checked.ok, `the test envelope of ${name} matches its contract: ${checked.ok ? '' : checked.errors.join('; ')}`);
  return envelope;
}

export function userRegistered(customer: { userId: string; email: string; name: string }): Envelope {
  return envelopeOf('identity.user-registered.v1', { ...customer, registeredAt: new Date().toISOString() }, customer.userId);
}

export function orderConfirmed(orderId: string, customerId: string): Envelope {
  const unitPrice = { amount: 1250, currency: 'EUR' };
  return envelopeOf(
    'orders.order-confirmed.v1',
    {
      orderId,
      customerId,
      total: { amount: 2500, currency: 'EUR' },
      lines: [{ productId: randomUUID(), name: 'Blue mug', quantity: 2, unitPrice }],
      confirmedAt: new Date().toISOString(),
    },
    orderId,
  );
}

export function orderCancelled(orderId: string, customerId: string, reason = 'Your card was declined by the bank.'): Envelope {
  return envelopeOf('orders.order-cancelled.v1', { orderId, customerId, code: 'CARD_DECLINED', reason, cancelledAt: new Date().toISOString() }, orderId);
}

export function shipmentDispatched(orderId: string, customerId: string, trackingNumber = 'BZ000123456'): Envelope {
  return envelopeOf('shipping.shipment-dispatched.v1', { orderId, customerId, shipmentId: randomUUID(), trackingNumber, dispatchedAt: new Date().toISOString() }, orderId);
}

export function paymentRefunded(orderId: string, customerId: string): Envelope {
  return envelopeOf(
    'payments.payment-refunded.v1',
    { orderId, customerId, paymentId: randomUUID(), amount: { amount: 2500, currency: 'EUR' }, reason: 'The carrier does not deliver to your address.', refundedAt: new Date().toISOString() },
    orderId,
  );
}

/** The same event published again under a new message id (a publisher that wrote it twice). */
export function republished(envelope: Envelope): Envelope {
  return { ...envelope, id: randomUUID(), time: new Date().toISOString() };
}
