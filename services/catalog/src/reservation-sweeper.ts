import type { Database, Outbox, ServiceContext } from '@bazaar/chassis';
import { expireDueReservations } from './persistence/reservation-repository.ts';

export interface SweeperOptions {
  db: Database;
  outbox: Outbox;
  log: ServiceContext['log'];
  /** Pause between sweeps. */
  everyMs: number;
  /** Reservations expired per transaction. */
  batch?: number;
}

/**
 * Expires every reservation due now, a batch per transaction; returns their
 * order ids. What the sweeper does on each tick; tests call it directly.
 */
export async function sweepExpiredReservations(options: Omit<SweeperOptions, 'everyMs'>): Promise<string[]> {
  const batch = options.batch ?? 100;
  const expired: string[] = [];
  for (;;) {
    const orderIds = await expireDueReservations(options.db, options.outbox, batch);
    for (const orderId of orderIds) options.log.info({ orderId }, 'reservation expired: its stock is available again');
    expired.push(...orderIds);
    if (orderIds.length < batch) return expired;
  }
}

/**
 * Sweeps every `everyMs` until stopped. Each replica runs one; they share the
 * work (a reservation is locked by whoever takes it first, the others skip it).
 * A failing sweep is logged and tried again on the next tick.
 */
export function startReservationSweeper(options: SweeperOptions): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = (): void => {
    running = sweepExpiredReservations(options)
      .catch((error: unknown) => options.log.error({ err: error }, 'reservation sweep failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.everyMs);
      });
  };
  timer = setTimeout(tick, options.everyMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
