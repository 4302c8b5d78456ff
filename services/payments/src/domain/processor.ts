/**
 * The simulated card processor: how an authorization on a card turns out, from
 * the card's behaviour (its test card) and which delivery of the command this is.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Behaviour } from './card.ts';

export type DeclineCode = 'CARD_DECLINED' | 'INSUFFICIENT_FUNDS';

/** The processor's customer-readable reasons for its declines. */
export const declineReasons: Readonly<Record<DeclineCode, string>> = {
  CARD_DECLINED: 'Your card was declined.',
  INSUFFICIENT_FUNDS: 'Your card has insufficient funds.',
};

export type Authorization = { approved: true } | { approved: false; code: DeclineCode; reason: string };

/** A technical failure of the processor: not an answer. The command is retried. */
export class ProcessorUnavailableError extends Error {
  constructor(message = 'the card processor did not answer (simulated transient failure)') {
    super(message);
    this.name = 'ProcessorUnavailableError';
  }
}

export interface CardProcessor {
  /** Authorizes on a card that behaves as `behaviour`; `attempt` is the delivery of the command (1 the first time). */
  authorize(behaviour: Behaviour, attempt: number): Promise<Authorization>;
}

export interface SimulatedProcessorOptions {
  /** How long the slow test card takes to answer. */
  slowDelayMs: number;
  /** How to wait; tests pass a clock that does not. */
  wait?: (ms: number) => Promise<unknown>;
}

export function simulatedProcessor({ slowDelayMs, wait = sleep }: SimulatedProcessorOptions): CardProcessor {
  return {
    async authorize(behaviour, attempt) {
      switch (behaviour) {
        case 'approve':
          return { approved: true };
        case 'decline':
          return decline('CARD_DECLINED');
        case 'insufficient_funds':
          return decline('INSUFFICIENT_FUNDS');
        case 'transient':
          // Fails the first delivery only, so the consumer's retry succeeds.
          if (attempt <= 1) throw new ProcessorUnavailableError();
          return { approved: true };
        case 'slow':
          await wait(slowDelayMs);
          return { approved: true };
      }
    },
  };
}

function decline(code: DeclineCode): Authorization {
  return { approved: false, code, reason: declineReasons[code] };
}
