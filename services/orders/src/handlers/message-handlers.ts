import type { MessageContext, MessageHandlers } from '@bazaar/chassis';
import type { CheckoutSaga } from '../application/checkout-saga.ts';
import { sagaActions, replyName } from '../application/saga-commands.ts';
import type { Action } from '../domain/checkout.ts';

interface Result {
  orderId: string;
  outcome: 'succeeded' | 'failed';
  code?: string;
  reason?: string;
  paymentId?: string;
  shipmentId?: string;
  trackingNumber?: string;
}

/**
 * Orders consumes the participants' replies and hands each to the saga of its
 * order, in the consumer's transaction: the saga's decision, the next command and
 * the inbox record commit together. A reply that races another writer of the same
 * stream fails with a concurrency error and is retried by the consumer.
 */
export function orderHandlers(saga: CheckoutSaga): MessageHandlers {
  const handlers: Record<string, (data: Result, message: MessageContext) => Promise<void>> = {};
  for (const action of sagaActions) {
    handlers[replyName(action)] = async (result, { tx, log }) => {
      const order = await saga.handle(tx, result.orderId, { kind: 'reply', reply: { ...result, action: action as Action } }, new Date());
      if (!order) log.warn({ orderId: result.orderId, action }, 'reply for an order this service does not know; ignored');
    };
  }
  return handlers as MessageHandlers;
}
