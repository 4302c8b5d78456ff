/**
 * Checkout: the commands the orders saga sends to its participants (catalog,
 * payments, shipping), their replies, and the events checkout announces.
 *
 * Every command is keyed by its order id, so the broker delivers the commands of
 * one order to a participant in the order they were sent: a compensation (release,
 * void, cancel) always arrives after the step it undoes. Every participant is
 * idempotent per order: handling a command twice has the effect of handling it once
 * and answers the same result.
 */
import { Type, type TProperties } from 'typebox';
import { Money } from '../money.ts';
import { defineMessage } from './define.ts';

const orderId = Type.String({ format: 'uuid', description: 'The order (and saga) this message belongs to' });
const customerId = Type.String({ format: 'uuid', description: 'The customer who placed the order' });
const reason = Type.String({ minLength: 1, maxLength: 500, description: 'Why, in words a customer can read' });

/** Units of one product an order may hold (its lines for that product together). */
export const MAX_UNITS_PER_PRODUCT = 1000;

export const OrderLine = Type.Object(
  {
    productId: Type.String({ format: 'uuid' }),
    quantity: Type.Integer({ minimum: 1, maximum: MAX_UNITS_PER_PRODUCT }),
  },
  { additionalProperties: false },
);

export const ShippingAddress = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2 country code' }),
  },
  { additionalProperties: false },
);

const lines = Type.Array(OrderLine, { minItems: 1, maxItems: 50 });

/**
 * A participant's answer to a command: `succeeded`, or `failed` with a stable
 * machine `code` and a `reason` for the customer. A failure is a business answer
 * (declined, out of stock); technical errors are retried by the consumer instead.
 */
function result<P extends TProperties>(extra: P) {
  return Type.Object(
    {
      orderId,
      outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
      code: Type.Optional(Type.String({ pattern: '^[A-Z][A-Z0-9_]{1,63}$' })),
      reason: Type.Optional(reason),
      ...extra,
    },
    { additionalProperties: false },
  );
}

const command = <P extends TProperties>(properties: P) => Type.Object({ orderId, ...properties }, { additionalProperties: false });

export const checkoutMessages = {
  // Catalog: inventory reservations.
  'catalog.reserve-stock.v1': defineMessage({
    kind: 'command',
    summary: 'Reserve every line of an order, all or none; the hold lapses at expiresAt unless committed or released.',
    key: 'orderId',
    schema: command({ lines, expiresAt: Type.String({ format: 'date-time' }) }),
  }),
  'catalog.reserve-stock-result.v1': defineMessage({ kind: 'reply', summary: 'Whether the stock of an order is reserved (code OUT_OF_STOCK or PRODUCT_UNAVAILABLE when not).', key: 'orderId', schema: result({}) }),
  'catalog.commit-stock.v1': defineMessage({
    kind: 'command',
    summary: 'The order is confirmed: its reserved stock leaves the warehouse (sold).',
    key: 'orderId',
    schema: command({}),
  }),
  'catalog.commit-stock-result.v1': defineMessage({ kind: 'reply', summary: 'Whether the reserved stock of an order was committed.', key: 'orderId', schema: result({}) }),
  'catalog.release-stock.v1': defineMessage({
    kind: 'command',
    summary: 'Compensation: give back the stock reserved for an order (a no-op when none is held).',
    key: 'orderId',
    schema: command({ reason }),
  }),
  'catalog.release-stock-result.v1': defineMessage({ kind: 'reply', summary: 'The stock of an order is released (or was never held).', key: 'orderId', schema: result({}) }),

  // Payments: a simulated card processor.
  'payments.authorize-payment.v1': defineMessage({
    kind: 'command',
    summary: 'Authorize the order total on the card behind a payment token.',
    key: 'orderId',
    schema: command({ customerId, amount: Money, paymentToken: Type.String({ minLength: 8, maxLength: 64 }) }),
  }),
  'payments.authorize-payment-result.v1': defineMessage({
    kind: 'reply',
    summary: 'Whether the payment was authorized (codes CARD_DECLINED, INSUFFICIENT_FUNDS, PAYMENT_TOKEN_UNKNOWN when not).',
    key: 'orderId',
    schema: result({ paymentId: Type.Optional(Type.String({ format: 'uuid' })) }),
  }),
  'payments.capture-payment.v1': defineMessage({ kind: 'command', summary: 'Capture the authorized payment of an order.', key: 'orderId', schema: command({}) }),
  'payments.capture-payment-result.v1': defineMessage({ kind: 'reply', summary: 'Whether the payment was captured.', key: 'orderId', schema: result({}) }),
  'payments.void-payment.v1': defineMessage({
    kind: 'command',
    summary: 'Compensation: void an authorization that was not captured (a no-op when none exists).',
    key: 'orderId',
    schema: command({ reason }),
  }),
  'payments.void-payment-result.v1': defineMessage({ kind: 'reply', summary: 'The authorization is voided (or there was none).', key: 'orderId', schema: result({}) }),
  'payments.refund-payment.v1': defineMessage({
    kind: 'command',
    summary: 'Compensation: refund a captured payment in full (a no-op when nothing was captured).',
    key: 'orderId',
    schema: command({ reason }),
  }),
  'payments.refund-payment-result.v1': defineMessage({ kind: 'reply', summary: 'The payment is refunded (or nothing was captured).', key: 'orderId', schema: result({}) }),
  'payments.payment-refunded.v1': defineMessage({
    kind: 'event',
    summary: 'A captured payment was refunded to the customer.',
    key: 'orderId',
    schema: Type.Object(
      { orderId, customerId, paymentId: Type.String({ format: 'uuid' }), amount: Money, reason, refundedAt: Type.String({ format: 'date-time' }) },
      { additionalProperties: false },
    ),
  }),

  // Shipping: a simulated carrier.
  'shipping.create-shipment.v1': defineMessage({
    kind: 'command',
    summary: 'Book a shipment for an order (not dispatched until the order is confirmed).',
    key: 'orderId',
    schema: command({ customerId, address: ShippingAddress, lines }),
  }),
  'shipping.create-shipment-result.v1': defineMessage({
    kind: 'reply',
    summary: 'Whether a shipment was booked (code DESTINATION_UNSUPPORTED when the carrier does not serve the country).',
    key: 'orderId',
    schema: result({ shipmentId: Type.Optional(Type.String({ format: 'uuid' })), trackingNumber: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
  }),
  'shipping.cancel-shipment.v1': defineMessage({
    kind: 'command',
    summary: 'Compensation: cancel the shipment booked for an order (a no-op when none exists).',
    key: 'orderId',
    schema: command({ reason }),
  }),
  'shipping.cancel-shipment-result.v1': defineMessage({ kind: 'reply', summary: 'The shipment is cancelled (or there was none).', key: 'orderId', schema: result({}) }),
  'shipping.shipment-dispatched.v1': defineMessage({
    kind: 'event',
    summary: 'The carrier picked up the shipment of a confirmed order.',
    key: 'orderId',
    schema: Type.Object(
      {
        orderId,
        customerId,
        shipmentId: Type.String({ format: 'uuid' }),
        trackingNumber: Type.String({ minLength: 1, maxLength: 64 }),
        dispatchedAt: Type.String({ format: 'date-time' }),
      },
      { additionalProperties: false },
    ),
  }),

  // Orders: the outcome of checkout.
  'orders.order-confirmed.v1': defineMessage({
    kind: 'event',
    summary: 'An order completed checkout: stock committed, payment captured, shipment booked.',
    key: 'orderId',
    schema: Type.Object(
      {
        orderId,
        customerId,
        total: Money,
        lines: Type.Array(
          Type.Object(
            { productId: Type.String({ format: 'uuid' }), name: Type.String({ minLength: 1, maxLength: 200 }), quantity: Type.Integer({ minimum: 1 }), unitPrice: Money },
            { additionalProperties: false },
          ),
          { minItems: 1, maxItems: 50 },
        ),
        confirmedAt: Type.String({ format: 'date-time' }),
      },
      { additionalProperties: false },
    ),
  }),
  'orders.order-cancelled.v1': defineMessage({
    kind: 'event',
    summary: 'An order was cancelled (declined, out of stock, undeliverable, timed out or by the customer); every completed step was compensated.',
    key: 'orderId',
    schema: Type.Object(
      { orderId, customerId, code: Type.String({ pattern: '^[A-Z][A-Z0-9_]{1,63}$' }), reason, cancelledAt: Type.String({ format: 'date-time' }) },
      { additionalProperties: false },
    ),
  }),
} as const;
