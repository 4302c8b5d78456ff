/**
 * The checkout saga orchestrator. Every decision runs in one transaction that
 * locks the saga's row, loads the order, appends the decided events, projects the
 * read models, writes the next command to the outbox and moves the saga's
 * deadline — so the state is persisted before each step is sent, and a restarted
 * orchestrator carries on from the stream: the deadline sweeper resends or
 * compensates whatever was in flight.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { CommandGuards, writeBehind, type Database, type Outbox, type Queryable } from '@bazaar/chassis';
import type { CommandPolicyOverride } from '@bazaar/topology';
import { NotCancellableError, onCancel, onDeadline, onReply, pendingCommands, type Action, type Reply } from '../domain/checkout.ts';
import type { OrderEvent } from '../domain/order-events.ts';
import type { Order } from '../domain/order.ts';
import type { OrderEventStore } from '../persistence/order-event-store.ts';
import type { OrderProjections } from '../persistence/order-projections.ts';
import { participantOf, sagaParticipants, sendCommand } from './saga-commands.ts';

export interface SagaSettings {
  /** How long a step may take before the saga gives up on it and compensates. */
  stepTimeoutMs: number;
  /** How long catalog holds reserved stock that is neither committed nor released. */
  reservationTtlMs: number;
  /** Backoff between attempts of a compensation that failed or went unanswered. */
  compensationBackoffBaseMs: number;
  compensationBackoffMaxMs: number;
  /** From this many attempts on, a compensation counts as stuck (metric, error log). */
  stuckAfterAttempts: number;
}

export type SagaInput = { kind: 'reply'; reply: Reply } | { kind: 'deadline' } | { kind: 'cancel' };

interface SagaRow {
  status: string;
  /** The commands sent and not yet answered. */
  awaiting: Action[];
  attempts: number;
}

export class OrderNotFoundError extends Error {}
export { NotCancellableError };

export class CheckoutSaga {
  private readonly options: {
    db: Database;
    store: OrderEventStore;
    projections: OrderProjections;
    outbox: Outbox;
    settings: SagaSettings;
    log: FastifyBaseLogger;
  };
  private readonly outcomes: Counter<'outcome'> | undefined;
  private readonly retries: Counter<'compensation'> | undefined;
  /** The policies of the commands to each participant: breaker, bulkhead, resend budget. */
  readonly guards: CommandGuards;
  /** Commands awaiting each participant's reply, over every replica, as of the last count. */
  private inFlight = new Map<string, number>();

  constructor(options: CheckoutSaga['options'] & { metrics?: Registry; commandPolicies?: string | Record<string, CommandPolicyOverride> }) {
    this.options = options;
    this.guards = new CommandGuards({
      sender: 'orders',
      participants: sagaParticipants,
      inFlight: (participant) => this.inFlight.get(participant) ?? 0,
      ...(options.commandPolicies !== undefined ? { overrides: options.commandPolicies } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    if (options.metrics) {
      const registers = [options.metrics];
      this.outcomes = new Counter({ name: 'checkout_sagas_completed_total', help: 'Checkout sagas that ended, by outcome', labelNames: ['outcome'], registers });
      this.retries = new Counter({ name: 'saga_compensation_retries_total', help: 'Compensations sent again after a failure or a missed deadline', labelNames: ['compensation'], registers });
      const { db, settings } = options;
      new Gauge({
        name: 'saga_compensations_stuck',
        help: `Sagas whose current compensation has failed ${settings.stuckAfterAttempts} times or more`,
        registers,
        async collect() {
          const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM sagas WHERE status = 'COMPENSATING' AND attempts >= $1", [settings.stuckAfterAttempts]);
          this.set(Number(rows[0]!.n));
        },
      });
      new Gauge({
        name: 'checkout_sagas_in_flight',
        help: 'Checkout sagas not yet confirmed or cancelled',
        registers,
        async collect() {
          const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM sagas WHERE status IN ('RUNNING', 'COMPENSATING')");
          this.set(Number(rows[0]!.n));
        },
      });
    }
  }

  /**
   * Refuses (503, before anything is written) a new order while a participant it
   * needs is cut off by its breaker or has too many commands in flight: the
   * customer gets a clear answer instead of a saga that would wait or time out.
   */
  admit(): void {
    this.guards.admit(sagaParticipants);
  }

  /** Counts the commands awaiting each participant's reply (sagas in flight, by what they await), for the bulkheads. */
  async countInFlight(): Promise<void> {
    const { rows } = await this.options.db.query<{ awaiting: Action; n: number }>(
      'SELECT a.action AS awaiting, count(*)::int AS n FROM sagas, unnest(sagas.awaiting) AS a (action) WHERE deadline_at IS NOT NULL GROUP BY a.action',
    );
    const counts = new Map<string, number>();
    for (const { awaiting, n } of rows) {
      const participant = participantOf(awaiting);
      counts.set(participant, (counts.get(participant) ?? 0) + n);
    }
    this.inFlight = counts;
  }

  /** Starts the saga of a just-placed order (in the transaction that placed it): at most one per order. */
  async start(tx: Queryable, order: Order, now: Date): Promise<void> {
    const actions = pendingCommands(order);
    // The row is written as `send` would leave it: the first stage's deadline, attempt 1.
    await tx.query("INSERT INTO sagas (order_id, status, awaiting, deadline_at, attempts, started_at, updated_at) VALUES ($1, 'RUNNING', $2, $3, 1, $4, $4)", [
      order.id,
      actions,
      this.deadline(now, 0),
      now,
    ]);
    const notes = new SagaNotes(order.id);
    for (const action of actions) await this.command(tx, order, action, now, 1, notes);
    await notes.write(tx);
  }

  /**
   * Applies `input` to the saga of `orderId`; answers the order's new state (null
   * when there is no such order). Throws ConcurrencyError if the stream moved on
   * under it (the consumer retries), NotCancellableError for a late cancel.
   */
  async handle(tx: Queryable, orderId: string, input: SagaInput, now: Date): Promise<Order | null> {
    const { rows } = await tx.query<SagaRow>('SELECT status, awaiting, attempts FROM sagas WHERE order_id = $1 FOR UPDATE', [orderId]);
    const saga = rows[0];
    const order = saga ? await this.options.store.load(tx, orderId) : null;
    if (!saga || !order) return null;

    const at = now.toISOString();
    const notes = new SagaNotes(orderId);
    const events: OrderEvent[] =
      input.kind === 'reply' ? onReply(order, input.reply, at) : input.kind === 'deadline' ? onDeadline(order, at) : onCancel(order, at);
    if (input.kind === 'reply') {
      const { action, outcome, code } = input.reply;
      if (saga.awaiting.includes(action)) this.guards.replied(participantOf(action));
      notes.add(events.length > 0 ? 'reply' : 'reply ignored', action, outcome + (code ? ` ${code}` : ''));
    } else if (input.kind === 'deadline') {
      for (const action of saga.awaiting) {
        this.guards.timedOut(participantOf(action));
        notes.add('deadline passed', action, `attempt ${saga.attempts}`);
      }
    } else {
      notes.add('cancel requested', null, null);
    }

    const next = await this.options.store.append(tx, order, events, now, { input: input.kind });
    // What the saga waits on now, against what it has sent: the new commands go out. (Compared with
    // what was sent rather than with the previous state, so a saga whose row lags its stream — written
    // by an older release that sent one step at a time — still sends what its stream says is due.)
    const pending = pendingCommands(next);
    const unsent = pending.filter((action) => !saga.awaiting.includes(action));
    if (events.length > 0) {
      await this.options.projections.project(tx, next);
      await this.announce(tx, next, events, at);
    }

    if (pending.length === 0) {
      const status = next.status === 'CONFIRMED' ? 'CONFIRMED' : 'CANCELLED';
      await tx.query("UPDATE sagas SET status = $2, awaiting = '{}', deadline_at = NULL, attempts = 0, updated_at = $3 WHERE order_id = $1", [orderId, status, now]);
      if (saga.status === 'RUNNING' || saga.status === 'COMPENSATING') this.outcomes?.inc({ outcome: status.toLowerCase() });
      notes.add(status.toLowerCase(), null, next.failure?.reason ?? null);
    } else if (unsent.length > 0) {
      await this.send(tx, next, unsent, pending, now, 1, notes);
    } else if (pending.length < saga.awaiting.length) {
      // One step of the stage answered; the others are still in flight, on the same deadline.
      await tx.query('UPDATE sagas SET awaiting = $2, updated_at = $3 WHERE order_id = $1', [orderId, pending, now]);
    } else if (input.kind === 'deadline' && !this.guards.tryResend(participantOf(pending[0]!))) {
      // The participant's resend budget is spent (many compensations unanswered at once: it is
      // down or drowning): this one waits a backoff instead of adding to the load.
      const wait = Math.max(this.options.settings.compensationBackoffBaseMs, this.backoff(saga.attempts));
      await tx.query('UPDATE sagas SET deadline_at = $2, updated_at = $3 WHERE order_id = $1', [orderId, new Date(now.getTime() + wait), now]);
      notes.add('resend deferred', pending[0]!, `retry budget spent; next try in ${wait} ms`);
    } else if (input.kind === 'deadline') {
      // A compensation went unanswered: send it again, waiting longer each time.
      const compensation = pending[0]!;
      const attempt = saga.attempts + 1;
      this.retries?.inc({ compensation });
      if (attempt >= this.options.settings.stuckAfterAttempts) {
        this.options.log.error({ orderId, compensation, attempt }, 'compensation stuck: still unanswered or failing; retrying');
      } else {
        this.options.log.warn({ orderId, compensation, attempt }, 'compensation unanswered; sending it again');
      }
      await this.send(tx, next, pending, pending, now, attempt, notes);
    } else if (input.kind === 'reply' && input.reply.outcome === 'failed' && input.reply.action === pending[0]) {
      // A compensation answered no (a participant that cannot undo yet): try again after a backoff.
      const wait = this.backoff(saga.attempts);
      this.options.log.warn({ orderId, compensation: pending[0], code: input.reply.code, retryInMs: wait }, 'compensation failed; will retry');
      await tx.query('UPDATE sagas SET deadline_at = $2, updated_at = $3 WHERE order_id = $1', [orderId, new Date(now.getTime() + wait), now]);
    }
    await notes.write(tx);
    return next;
  }

  /**
   * Handles the sagas whose deadline passed, one transaction each (replicas share
   * the work: a saga locked by another is skipped). Answers how many it handled.
   */
  async sweep(now: () => Date = () => new Date(), limit = 100): Promise<number> {
    let handled = 0;
    while (handled < limit) {
      const found = await this.options.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ order_id: string }>(
          'SELECT order_id FROM sagas WHERE deadline_at <= $1 ORDER BY deadline_at LIMIT 1 FOR UPDATE SKIP LOCKED',
          [now()],
        );
        if (!rows[0]) return false;
        await this.handle(tx, rows[0].order_id, { kind: 'deadline' }, now());
        return true;
      });
      if (!found) break;
      handled++;
    }
    return handled;
  }

  /** The saga's timeline, for admins: every command sent, reply, deadline and retry. */
  async timeline(db: Queryable, orderId: string) {
    const { rows: sagas } = await db.query<{ status: string; awaiting: string[]; deadline_at: Date | null; attempts: number; started_at: Date; updated_at: Date }>(
      'SELECT status, awaiting, deadline_at, attempts, started_at, updated_at FROM sagas WHERE order_id = $1',
      [orderId],
    );
    const saga = sagas[0];
    if (!saga) return null;
    const { rows } = await db.query<{ at: Date; action: string; step: string | null; detail: string | null }>(
      'SELECT at, action, step, detail FROM saga_timeline WHERE order_id = $1 ORDER BY id',
      [orderId],
    );
    return {
      orderId,
      status: saga.status,
      awaiting: saga.awaiting,
      deadlineAt: saga.deadline_at?.toISOString() ?? null,
      attempts: saga.attempts,
      startedAt: saga.started_at.toISOString(),
      updatedAt: saga.updated_at.toISOString(),
      timeline: rows.map((row) => ({ at: row.at.toISOString(), action: row.action, step: row.step, detail: row.detail })),
    };
  }

  /** Sends `actions` (attempt `attempt`) and moves the saga's row to wait for the replies to `awaiting`, on a new deadline. */
  private async send(tx: Queryable, order: Order, actions: readonly Action[], awaiting: readonly Action[], now: Date, attempt: number, notes: SagaNotes): Promise<void> {
    for (const action of actions) await this.command(tx, order, action, now, attempt, notes);
    const status = order.phase === 'compensating' ? 'COMPENSATING' : 'RUNNING';
    await tx.query('UPDATE sagas SET status = $2, awaiting = $3, deadline_at = $4, attempts = $5, updated_at = $6 WHERE order_id = $1', [
      order.id,
      status,
      awaiting,
      this.deadline(now, attempt - 1),
      attempt,
      now,
    ]);
  }

  /** Writes the command for `action` to the outbox, counts it for its participant's policies and notes it. */
  private async command(tx: Queryable, order: Order, action: Action, now: Date, attempt: number, notes: SagaNotes): Promise<void> {
    await sendCommand(tx, this.options.outbox, order, action, now, this.options.settings.reservationTtlMs);
    if (attempt === 1) this.guards.sent(participantOf(action));
    notes.add(attempt > 1 ? 'command resent' : 'command sent', action, attempt > 1 ? `attempt ${attempt}` : null);
  }

  /** A step's deadline; a compensation sent again waits longer each time (capped). */
  private deadline(now: Date, retries: number): Date {
    const { stepTimeoutMs, compensationBackoffMaxMs } = this.options.settings;
    return new Date(now.getTime() + Math.min(stepTimeoutMs * 2 ** Math.min(retries, 10), Math.max(stepTimeoutMs, compensationBackoffMaxMs)));
  }

  /** Full jitter: uniform in [0, min(cap, base · 2^attempts)]. */
  private backoff(attempts: number): number {
    const { compensationBackoffBaseMs: base, compensationBackoffMaxMs: cap } = this.options.settings;
    return Math.round(Math.random() * Math.min(cap, base * 2 ** attempts));
  }

  private async announce(tx: Queryable, order: Order, events: readonly OrderEvent[], at: string): Promise<void> {
    for (const event of events) {
      if (event.type === 'OrderConfirmed') {
        await this.options.outbox.add(
          tx,
          'orders.order-confirmed.v1',
          {
            orderId: order.id,
            customerId: order.customerId,
            total: order.total,
            lines: order.lines.map((line) => ({ productId: line.productId, name: line.name, quantity: line.quantity, unitPrice: line.unitPrice })),
            confirmedAt: at,
          },
          { key: order.id },
        );
      } else if (event.type === 'OrderCancelled') {
        await this.options.outbox.add(tx, 'orders.order-cancelled.v1', { orderId: order.id, customerId: order.customerId, code: event.data.code, reason: event.data.reason, cancelledAt: at }, { key: order.id });
      }
    }
  }
}

/**
 * The timeline entries of one decision: stamped when noted, written together in
 * one statement that goes with the decision's COMMIT.
 */
class SagaNotes {
  private readonly orderId: string;
  private readonly actions: string[] = [];
  private readonly steps: Array<string | null> = [];
  private readonly details: Array<string | null> = [];
  private readonly times: Date[] = [];

  constructor(orderId: string) {
    this.orderId = orderId;
  }

  add(action: string, step: string | null, detail: string | null): void {
    this.actions.push(action);
    this.steps.push(step);
    this.details.push(detail);
    this.times.push(new Date());
  }

  async write(tx: Queryable): Promise<void> {
    if (this.actions.length === 0) return;
    await writeBehind(
      tx,
      'INSERT INTO saga_timeline (order_id, action, step, detail, at) SELECT $1, a, s, d, t FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS n(a, s, d, t, i) ORDER BY i',
      [this.orderId, this.actions, this.steps, this.details, this.times],
    );
  }
}
