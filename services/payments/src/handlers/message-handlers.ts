import type { BaseConfig, MessageHandlers, Outbox, Queryable, ServiceContext, Static } from '@bazaar/chassis';
import type { Envelope, MessageData } from '@bazaar/contracts/messages';
import type { PaymentsConfig } from '../config.ts';
import { refusalReasons, type Payment } from '../domain/payment.ts';
import { declineReasons, simulatedProcessor, type CardProcessor } from '../domain/processor.ts';
import { PaymentMethodRepository } from '../persistence/payment-method-repository.ts';
import { PaymentRepository } from '../persistence/payment-repository.ts';

type Answer = { outcome: 'succeeded'; paymentId?: string } | { outcome: 'failed'; code: string; reason: string };

const succeeded: Answer = { outcome: 'succeeded' };

const reasons: Readonly<Record<string, string>> = { ...declineReasons, ...refusalReasons };

function failed(code: string): Answer {
  return { outcome: 'failed', code, reason: reasons[code] ?? 'Your payment was refused.' };
}

/** A reply goes to whoever sent the command (the saga in orders), keyed by the order. */
function replyTo(envelope: Envelope, orderId: string) {
  return { key: orderId, destination: envelope.replyTo ?? 'orders' };
}

/**
 * The answer an authorization gave, read from the order's payment: handling the
 * command again answers the same, and a closed order is never authorized again.
 */
function authorizationAnswer(payment: Payment): Answer {
  switch (payment.status) {
    case 'AUTHORIZED':
    case 'CAPTURED':
      return { outcome: 'succeeded', paymentId: payment.id };
    case 'DECLINED':
      return failed(payment.declineCode ?? 'CARD_DECLINED');
    case 'VOIDED':
    case 'REFUNDED':
      return failed('ORDER_CLOSED');
  }
}

async function authorize(tx: Queryable, command: MessageData<'payments.authorize-payment.v1'>, processor: CardProcessor, attempt: number): Promise<Answer> {
  const payments = new PaymentRepository(tx);
  const existing = await payments.lockForOrder(command.orderId);
  if (existing) return authorizationAnswer(existing);

  const base = { orderId: command.orderId, customerId: command.customerId, amount: command.amount.amount, currency: command.amount.currency };
  // Someone else's token looks exactly like an unknown one.
  const method = await new PaymentMethodRepository(tx).findFor(command.paymentToken, command.customerId);
  let recorded: Payment | undefined;
  if (!method) {
    recorded = await payments.recordAuthorization({ ...base, brand: null, last4: null, declineCode: 'PAYMENT_TOKEN_UNKNOWN' });
  } else {
    // Throws on a technical failure: no row, no reply; the consumer retries the command.
    const authorization = await processor.authorize(method.behaviour, attempt);
    recorded = await payments.recordAuthorization({ ...base, brand: method.brand, last4: method.last4, declineCode: authorization.approved ? null : authorization.code });
  }
  // Undefined: a concurrent delivery of the command recorded the payment first; answer as it did.
  const payment = recorded ?? (await payments.lockForOrder(command.orderId));
  if (!payment) throw new Error(`the payment of order ${command.orderId} vanished while being authorized`);
  return authorizationAnswer(payment);
}

async function capture(tx: Queryable, orderId: string): Promise<Answer> {
  const payments = new PaymentRepository(tx);
  const payment = await payments.lockForOrder(orderId);
  if (payment?.status === 'AUTHORIZED') await payments.capture(payment.id);
  else if (payment?.status !== 'CAPTURED') return failed('PAYMENT_NOT_AUTHORIZED');
  return succeeded;
}

/**
 * Void and refund, the two compensations, undo whatever the order's payment got
 * to: an authorization is voided, a capture refunded in full (announced with
 * payments.payment-refunded.v1), and an order never seen gets a VOIDED tombstone
 * so that its authorize, should it still come, is refused. Anything else is done.
 */
async function compensate(tx: Queryable, outbox: Outbox, orderId: string, reason: string): Promise<void> {
  const payments = new PaymentRepository(tx);
  // A tombstone insert that loses to a concurrent one finds that row on the second look.
  const payment = (await payments.lockForOrder(orderId)) ?? (await payments.recordTombstone(orderId)) ?? (await payments.lockForOrder(orderId));
  if (!payment) throw new Error(`the payment of order ${orderId} vanished while being compensated`);
  if (payment.status === 'AUTHORIZED') {
    await payments.void(payment.id);
  } else if (payment.status === 'CAPTURED') {
    const refunded = await payments.refund(payment.id);
    await outbox.add(
      tx,
      'payments.payment-refunded.v1',
      {
        orderId,
        customerId: refunded.customerId!,
        paymentId: refunded.id,
        amount: { amount: refunded.refundedAmount, currency: refunded.currency! },
        reason,
        refundedAt: refunded.updatedAt.toISOString(),
      },
      { key: orderId },
    );
  }
}

/**
 * What payments does with the commands of the checkout saga. Each handler runs in
 * the consumer's transaction with the inbox record, keeps one payment row per
 * order and answers from it, so a command handled twice acts once and answers the same.
 */
export function paymentHandlers({ config }: ServiceContext<Static<typeof PaymentsConfig> & BaseConfig>): MessageHandlers {
  const processor = simulatedProcessor({ slowDelayMs: config.PAYMENTS_SLOW_CARD_DELAY_MS });
  return {
    'payments.authorize-payment.v1': async (command, { tx, envelope, outbox, log, attempt }) => {
      const answer = await authorize(tx, command, processor, attempt);
      log.info({ orderId: command.orderId, outcome: answer.outcome, code: answer.outcome === 'failed' ? answer.code : undefined }, 'payment authorization answered');
      await outbox.add(tx, 'payments.authorize-payment-result.v1', { orderId: command.orderId, ...answer }, replyTo(envelope, command.orderId));
    },
    'payments.capture-payment.v1': async ({ orderId }, { tx, envelope, outbox, log }) => {
      const answer = await capture(tx, orderId);
      log.info({ orderId, outcome: answer.outcome }, 'payment capture answered');
      await outbox.add(tx, 'payments.capture-payment-result.v1', { orderId, ...answer }, replyTo(envelope, orderId));
    },
    'payments.void-payment.v1': async ({ orderId, reason }, { tx, envelope, outbox, log }) => {
      await compensate(tx, outbox, orderId, reason);
      log.info({ orderId }, 'payment voided');
      await outbox.add(tx, 'payments.void-payment-result.v1', { orderId, outcome: 'succeeded' }, replyTo(envelope, orderId));
    },
    'payments.refund-payment.v1': async ({ orderId, reason }, { tx, envelope, outbox, log }) => {
      await compensate(tx, outbox, orderId, reason);
      log.info({ orderId }, 'payment refunded');
      await outbox.add(tx, 'payments.refund-payment-result.v1', { orderId, outcome: 'succeeded' }, replyTo(envelope, orderId));
    },
  };
}
