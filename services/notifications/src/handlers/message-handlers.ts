import type { MessageHandlers } from '@bazaar/chassis';
import { welcomeMessage } from '../domain/welcome.ts';
import { NotificationRepository } from '../persistence/notification-repository.ts';

/**
 * What notifications does with the messages it consumes. Each handler runs in the
 * consumer's transaction with the inbox record, so its effects go through `tx`.
 */
export function notificationHandlers(): MessageHandlers {
  return {
    'identity.user-registered.v1': async (customer, { tx, envelope, log }) => {
      const stored = await new NotificationRepository(tx).record({
        ...welcomeMessage(customer),
        recipientId: customer.userId,
        channel: 'inbox',
        sourceMessageId: envelope.id,
      });
      if (stored) log.info({ recipientId: customer.userId }, 'welcome message stored');
      else log.info({ recipientId: customer.userId }, 'welcome message already stored for this registration');
    },
  };
}
