import type { MessageHandlers } from '@bazaar/chassis';
import type { Answer } from '../domain/reservation.ts';
import { ReservationRepository } from '../persistence/reservation-repository.ts';

/** The reply fields of `answer`: `code` and `reason` only when it failed. */
function reply(orderId: string, answer: Answer) {
  return answer.outcome === 'succeeded' ? { orderId, outcome: answer.outcome } : { orderId, outcome: answer.outcome, code: answer.code, reason: answer.reason };
}

/**
 * The checkout commands catalog handles. Each runs in the consumer's transaction
 * with the inbox record: the stock change, its stock-changed events and the reply
 * commit together, or not at all (and the command is retried).
 */
export function catalogHandlers(): MessageHandlers {
  return {
    'catalog.reserve-stock.v1': async (command, { tx, envelope, outbox, log }) => {
      const answer = await new ReservationRepository(tx, outbox).reserve(command.orderId, command.lines, new Date(command.expiresAt));
      await outbox.add(tx, 'catalog.reserve-stock-result.v1', reply(command.orderId, answer), { key: command.orderId, destination: envelope.replyTo ?? 'orders' });
      log.info({ orderId: command.orderId, ...answer }, 'reserve-stock answered');
    },
    'catalog.commit-stock.v1': async (command, { tx, envelope, outbox, log }) => {
      const answer = await new ReservationRepository(tx, outbox).commit(command.orderId);
      await outbox.add(tx, 'catalog.commit-stock-result.v1', reply(command.orderId, answer), { key: command.orderId, destination: envelope.replyTo ?? 'orders' });
      log.info({ orderId: command.orderId, ...answer }, 'commit-stock answered');
    },
    'catalog.release-stock.v1': async (command, { tx, envelope, outbox, log }) => {
      const answer = await new ReservationRepository(tx, outbox).release(command.orderId);
      await outbox.add(tx, 'catalog.release-stock-result.v1', reply(command.orderId, answer), { key: command.orderId, destination: envelope.replyTo ?? 'orders' });
      log.info({ orderId: command.orderId, reason: command.reason }, 'release-stock answered');
    },
  };
}
