import type { Money } from '@bazaar/contracts';
import type { MessageData } from '@bazaar/contracts/messages';
import { formatMoney } from './money.ts';
import type { Message } from './notification.ts';

/** Who a message is written to; the name is known once they registered. */
export interface Addressee {
  name?: string | undefined;
}

const greeting = (to: Addressee) => (to.name ? `Hi ${to.name},` : 'Hello,');
const signature = ['', 'The Bazaar team'];

/** Product names run to 200 characters; a line of the order keeps its first 80, so 50 lines fit the body. */
function shortName(name: string): string {
  return name.length <= 80 ? name : `${name.slice(0, 79)}…`;
}

function lineTotal(line: { quantity: number; unitPrice: Money }): Money {
  return { amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency };
}

export function orderConfirmedMessage(order: MessageData<'orders.order-confirmed.v1'>, to: Addressee): Message {
  return {
    kind: 'order-confirmed',
    subject: 'Your order is confirmed',
    body: [
      greeting(to),
      '',
      'Thanks for your order: it is confirmed and paid, and we are getting it ready to ship.',
      '',
      `Order ${order.orderId}`,
      ...order.lines.map((line) => `  ${line.quantity} × ${shortName(line.name)} (${formatMoney(line.unitPrice)} each): ${formatMoney(lineTotal(line))}`),
      `Total: ${formatMoney(order.total)}`,
      '',
      'We will tell you as soon as it is on its way.',
      ...signature,
    ].join('\n'),
  };
}

export function orderCancelledMessage(order: MessageData<'orders.order-cancelled.v1'>, to: Addressee): Message {
  return {
    kind: 'order-cancelled',
    subject: 'Your order was cancelled',
    body: [
      greeting(to),
      '',
      `We are sorry: your order ${order.orderId} was cancelled.`,
      '',
      `Why: ${order.reason}`,
      '',
      'Anything held or taken on your card for it is released or refunded in full. You are welcome to order again at any time.',
      ...signature,
    ].join('\n'),
  };
}

export function shipmentDispatchedMessage(shipment: MessageData<'shipping.shipment-dispatched.v1'>, to: Addressee): Message {
  return {
    kind: 'shipment-dispatched',
    subject: 'Your order is on its way',
    body: [
      greeting(to),
      '',
      `Good news: the carrier has picked up your order ${shipment.orderId}.`,
      '',
      `Tracking number: ${shipment.trackingNumber}`,
      ...signature,
    ].join('\n'),
  };
}

export function refundIssuedMessage(refund: MessageData<'payments.payment-refunded.v1'>, to: Addressee): Message {
  const amount = formatMoney(refund.amount);
  return {
    kind: 'refund-issued',
    subject: `Your refund of ${amount} is on its way`,
    body: [
      greeting(to),
      '',
      `We have refunded ${amount} for your order ${refund.orderId} to the card you paid with.`,
      '',
      `Why: ${refund.reason}`,
      '',
      'It can take a few business days to show on your statement.',
      ...signature,
    ].join('\n'),
  };
}
