import type { MessageContext, MessageHandlers } from '@bazaar/chassis';
import { dedupeKey, type Message } from '../domain/notification.ts';
import { orderCancelledMessage, orderConfirmedMessage, refundIssuedMessage, shipmentDispatchedMessage, type Addressee } from '../domain/order-messages.ts';
import { welcomeMessage } from '../domain/welcome.ts';
import { NotificationRepository, type Addressing } from '../persistence/notification-repository.ts';
import { RecipientRepository } from '../persistence/recipient-repository.ts';

/**
 * What notifications does with the messages it consumes. Each handler runs in the
 * consumer's transaction with the inbox record, so its effects go through `tx`;
 * an email is only recorded here (pending) and sent later by the email sender, so
 * no mail server is ever waited on inside that transaction.
 *
 * One notification per business event: redeliveries are absorbed by the inbox and
 * by (source message, kind), republished events by the notification's dedupe key.
 */
export function notificationHandlers({ config }: { config: { SMTP_URL?: string | undefined } }): MessageHandlers {
  const emailing = config.SMTP_URL !== undefined;
  /** By email as well when we can send email and know the address; otherwise the inbox only. */
  const addressing = (email: string | undefined): Addressing => (emailing && email ? { channel: 'email', emailTo: email } : { channel: 'inbox' });

  /** Notifies the customer of an order about `write`'s news of it. */
  async function notifyAboutOrder(order: { orderId: string; customerId: string }, write: (to: Addressee) => Message, { tx, envelope, log }: MessageContext): Promise<void> {
    const recipient = await new RecipientRepository(tx).find(order.customerId);
    const message = write({ name: recipient?.name });
    const addressed = addressing(recipient?.email);
    const stored = await new NotificationRepository(tx).record({
      ...message,
      ...addressed,
      recipientId: order.customerId,
      orderId: order.orderId,
      sourceMessageId: envelope.id,
      dedupeKey: dedupeKey(message.kind, order.orderId),
    });
    const context = { orderId: order.orderId, recipientId: order.customerId, kind: message.kind, channel: addressed.channel };
    if (stored) log.info(context, 'notification stored');
    else log.info(context, 'the customer was already notified of this; nothing stored');
  }

  return {
    'identity.user-registered.v1': async (customer, { tx, envelope, log }) => {
      await new RecipientRepository(tx).upsert({ userId: customer.userId, email: customer.email, name: customer.name });
      const stored = await new NotificationRepository(tx).record({
        ...welcomeMessage(customer),
        ...addressing(customer.email),
        recipientId: customer.userId,
        sourceMessageId: envelope.id,
        dedupeKey: dedupeKey('welcome', customer.userId),
      });
      if (stored) log.info({ recipientId: customer.userId }, 'welcome message stored');
      else log.info({ recipientId: customer.userId }, 'welcome message already stored for this registration');
    },
    'orders.order-confirmed.v1': (order, message) => notifyAboutOrder(order, (to) => orderConfirmedMessage(order, to), message),
    'orders.order-cancelled.v1': (order, message) => notifyAboutOrder(order, (to) => orderCancelledMessage(order, to), message),
    'shipping.shipment-dispatched.v1': (shipment, message) => notifyAboutOrder(shipment, (to) => shipmentDispatchedMessage(shipment, to), message),
    'payments.payment-refunded.v1': (refund, message) => notifyAboutOrder(refund, (to) => refundIssuedMessage(refund, to), message),
  };
}
