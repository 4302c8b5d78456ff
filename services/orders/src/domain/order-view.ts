import { Type, type Static } from '@bazaar/chassis';
import { Money } from '@bazaar/contracts';
import type { Order } from './order.ts';

export const OrderStatus = Type.Union([Type.Literal('PENDING'), Type.Literal('CONFIRMED'), Type.Literal('CANCELLED')]);

export const OrderView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: OrderStatus,
  items: Type.Array(
    Type.Object({
      productId: Type.String({ format: 'uuid' }),
      name: Type.String(),
      quantity: Type.Integer(),
      unitPrice: Money,
      lineTotal: Money,
    }),
  ),
  total: Money,
  shippingAddress: Type.Object({ name: Type.String(), line1: Type.String(), city: Type.String(), postalCode: Type.String(), country: Type.String() }),
  payment: Type.Object({ brand: Type.String(), last4: Type.String() }),
  reason: Type.Optional(Type.String({ description: 'Why the order was cancelled, for the customer' })),
  code: Type.Optional(Type.String({ description: 'Stable code of the cancellation reason, e.g. CARD_DECLINED' })),
  trackingNumber: Type.Optional(Type.String()),
  placedAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  timeline: Type.Array(Type.Object({ at: Type.String({ format: 'date-time' }), event: Type.String(), detail: Type.Optional(Type.String()) })),
});
export type OrderView = Static<typeof OrderView>;

export const OrderSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: OrderStatus,
  total: Money,
  itemCount: Type.Integer(),
  placedAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

/** What a customer sees of an order: no payment token, no saga internals. */
export function orderView(order: Order): OrderView {
  const view: OrderView = {
    id: order.id,
    status: order.status,
    items: order.lines.map((line) => ({ ...line, lineTotal: { amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency } })),
    total: order.total,
    shippingAddress: order.shippingAddress,
    payment: { brand: order.payment.brand, last4: order.payment.last4 },
    placedAt: order.placedAt,
    updatedAt: order.updatedAt,
    timeline: order.timeline,
  };
  if (order.status === 'CANCELLED' && order.failure) {
    view.reason = order.failure.reason;
    view.code = order.failure.code;
  }
  if (order.shipment) view.trackingNumber = order.shipment.trackingNumber;
  return view;
}
