import { randomUUID } from 'node:crypto';
import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { checkMessage, messageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';
import { inlineSql, type Database } from '../database.ts';
import { withRequestContext } from '../request-context.ts';
import { tracer } from '../telemetry.ts';
import type { Broker, Delivery, Subscription } from './broker.ts';
import type { Outbox } from './outbox.ts';

/** What a handler gets besides the payload: the transaction its effects belong to. */
export interface MessageContext {
  /** The handler's transaction: its effects, its outgoing messages and the inbox record commit together. */
  tx: pg.PoolClient;
  envelope: Envelope;
  /** Adds outgoing messages in `tx`; their causation id is this message. */
  outbox: Outbox;
  log: FastifyBaseLogger;
  /** Which delivery of this message this is (1 the first time; a replayed dead letter starts again at 1). */
  attempt: number;
}

export type MessageHandler<N extends MessageName> = (data: MessageData<N>, message: MessageContext) => Promise<void>;
export type MessageHandlers = { [N in MessageName]?: MessageHandler<N> };

export type DeadLetterReason = 'SCHEMA_INVALID' | 'UNDECODABLE' | 'NO_HANDLER' | 'HANDLER_FAILED';

export interface ConsumerOptions {
  /** Consumer group, and the inbox's consumer name: the service name. */
  group: string;
  db: Database;
  broker: Broker;
  outbox: Outbox;
  handlers: MessageHandlers;
  log: FastifyBaseLogger;
  metrics?: Registry;
  /** Deliveries before a failing message moves to the dead-letter queue. Default 5. */
  maxAttempts?: number;
  /** Exponential backoff with full jitter between attempts: base and cap. Defaults 200 ms and 30 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Deliveries in hand at once in this process (handling or waiting for their transaction). Default 32. */
  concurrency?: number;
  /**
   * Most messages handled in one transaction (group commit): deliveries that
   * arrive while a transaction is running wait for the next one, which takes
   * them all, up to this many. Default 32; 1 gives every message a transaction
   * of its own. A message alone never waits for company.
   */
  batchSize?: number;
  /**
   * Transactions running handlers at once in this process. Default 2: measured
   * about 15 % faster than 1 on a NATS pipeline (bench:events, ADR 0015). Their
   * row locks can cross; `batchLockTimeoutMs` bounds the wait.
   */
  transactions?: number;
  /**
   * How long a handler in a transaction shared by several messages may wait for
   * a row lock. Past it, the batch gives up and its messages are handled one per
   * transaction, waiting as long as they need: two batches that lock rows in
   * opposite orders cost this long, not a deadlock. Default 200 ms.
   */
  batchLockTimeoutMs?: number;
  /** How often a long-running handler renews its lease. Default 10 s. */
  extendEveryMs?: number;
  /**
   * Inbox records are deleted after this long. Default 14 days: longer than any
   * redelivery can come (the NATS streams keep messages 7 days).
   */
  inboxRetentionMs?: number;
}

/** Records messages as processed by a consumer ($1); returns the ids it had not processed yet. */
const INBOX_INSERT = `INSERT INTO inbox (consumer, message_id, message_name)
  SELECT $1, id, name FROM unnest($2::uuid[], $3::text[]) AS m (id, name)
  ON CONFLICT DO NOTHING RETURNING message_id`;

/** SQLSTATE of a lock wait that ran past `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

type Outcome = 'handled' | 'duplicate' | 'ignored' | 'retried' | 'dead_lettered';

/** A valid delivery waiting for its turn in a handling transaction. */
interface Waiting {
  envelope: Envelope;
  handler: MessageHandler<MessageName>;
  attempt: number;
  /** The delivery's trace and request context, for the handler's spans and logs. */
  context: Context;
  done: (duplicate: boolean) => void;
  failed: (error: unknown) => void;
}

/**
 * The consuming side, identical on both brokers: every delivery is checked against
 * its contract (a message that does not parse or match goes straight to the
 * dead-letter queue, never blocking those behind it); the handler's effects and
 * the inbox record "message X processed by consumer Y" commit in one transaction,
 * so a redelivery is a no-op; a failing handler is retried with exponential
 * backoff and full jitter, and after `maxAttempts` deliveries the message moves
 * to the dead-letter queue with the last error. Each message is handled in a
 * consumer span continuing the trace of the code that wrote it.
 */
export class MessageConsumer {
  private readonly options: Required<Omit<ConsumerOptions, 'metrics'>> & { metrics?: Registry };
  private subscription: Subscription | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly consumed: Counter<'message' | 'outcome'> | undefined;
  private readonly duration: Histogram<'message'> | undefined;
  private readonly batchSizes: Histogram | undefined;
  /** Valid deliveries waiting for the running transaction to finish. */
  private readonly waiting: Waiting[] = [];
  /** Transactions running handlers: while `transactions` do, deliveries arriving join one of them. */
  private handling = 0;
  /** Transactions not yet finished: those running handlers, and one committing. */
  private transactionsOpen = 0;

  constructor(options: ConsumerOptions) {
    this.options = {
      maxAttempts: 5,
      backoffBaseMs: 200,
      backoffMaxMs: 30_000,
      concurrency: 32,
      batchSize: 32,
      transactions: 2,
      batchLockTimeoutMs: 200,
      extendEveryMs: 10_000,
      inboxRetentionMs: 14 * 86_400_000,
      ...options,
    };
    const registry = options.metrics;
    if (registry) {
      this.consumed = new Counter({
        name: 'messages_consumed_total',
        help: 'Deliveries settled by this consumer, by message and outcome',
        labelNames: ['message', 'outcome'] as const,
        registers: [registry],
      });
      this.duration = new Histogram({
        name: 'message_handling_duration_seconds',
        help: 'Time from delivery to the handler transaction committed',
        labelNames: ['message'] as const,
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      });
      this.batchSizes = new Histogram({
        name: 'message_handling_batch_size',
        help: 'Messages handled per consumer transaction (group commit)',
        buckets: [1, 2, 4, 8, 16, 32],
        registers: [registry],
      });
      const db = options.db;
      const group = options.group;
      new Gauge({
        name: 'dead_letters',
        help: 'Messages in this consumer\'s dead-letter queue',
        registers: [registry],
        async collect() {
          const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters WHERE consumer = $1', [group]).catch(() => ({ rows: [{ n: Number.NaN }] }));
          this.set(rows[0]?.n ?? 0);
        },
      });
    }
  }

  get group(): string {
    return this.options.group;
  }

  /** The message names this consumer handles. */
  get handles(): string[] {
    return Object.keys(this.options.handlers);
  }

  async start(): Promise<void> {
    this.pruneTimer = setInterval(() => void this.pruneInbox().catch(() => {}), 3_600_000);
    this.pruneTimer.unref();
    this.subscription = await this.options.broker.subscribe(this.options.group, (delivery) => this.receive(delivery), {
      concurrency: this.options.concurrency,
    });
  }

  /** Deletes inbox records older than the retention; returns how many. */
  async pruneInbox(): Promise<number> {
    const { rowCount } = await this.options.db.query(
      `DELETE FROM inbox WHERE consumer = $1 AND processed_at < now() - $2 * interval '1 millisecond'`,
      [this.options.group, this.options.inboxRetentionMs],
    );
    return rowCount ?? 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.subscription?.close();
    this.subscription = undefined;
  }

  /** Settles one delivery: handled, ignored, retried later, or dead-lettered. Never throws. */
  async receive(delivery: Delivery): Promise<void> {
    const started = performance.now();
    const message = delivery.message as Partial<Envelope> | undefined;
    const name = nameOf(message) ?? 'unknown';
    const span = this.startSpan(message, name, delivery.attempt);
    let outcome: Outcome;
    try {
      outcome = await context.with(trace.setSpan(context.active(), span), () => this.settle(delivery, name));
    } catch (error) {
      // Settling itself failed (database or broker gone): the lease expires and the message comes back.
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      this.options.log.warn({ err: error, messageName: name }, 'message could not be settled; it will be redelivered');
      span.end();
      return;
    }
    span.setAttribute('bazaar.outcome', outcome);
    span.end();
    this.consumed?.inc({ message: name, outcome });
    if (outcome === 'handled') this.duration?.observe({ message: name }, (performance.now() - started) / 1000);
  }

  private async settle(delivery: Delivery, name: string): Promise<Outcome> {
    if (delivery.message === undefined) {
      await this.deadLetter(delivery, 'UNDECODABLE', 'the message is not JSON');
      return 'dead_lettered';
    }
    const checked = checkMessage(delivery.message);
    if (!checked.ok) {
      await this.deadLetter(delivery, 'SCHEMA_INVALID', checked.errors.join('; '));
      return 'dead_lettered';
    }
    const envelope = checked.envelope;
    const handler = this.options.handlers[checked.name] as MessageHandler<MessageName> | undefined;
    if (!handler) {
      // An event this group does not handle is not its business; a command addressed to it is an error.
      if (envelope.destination === undefined) {
        await delivery.ack();
        return 'ignored';
      }
      await this.deadLetter(delivery, 'NO_HANDLER', `${this.options.group} has no handler for ${name}`);
      return 'dead_lettered';
    }
    const keepLease = setInterval(() => void delivery.extend().catch(() => {}), this.options.extendEveryMs);
    try {
      const duplicate = await this.handleInTurn(envelope, handler, delivery.attempt);
      await delivery.ack();
      return duplicate ? 'duplicate' : 'handled';
    } catch (error) {
      const text = describeError(error);
      if (delivery.attempt >= this.options.maxAttempts) {
        this.options.log.error({ err: error, messageId: envelope.id, messageName: name, attempts: delivery.attempt }, 'message dead-lettered after its last attempt');
        await this.deadLetter(delivery, 'HANDLER_FAILED', text);
        return 'dead_lettered';
      }
      const delay = this.backoff(delivery.attempt);
      this.options.log.warn({ err: error, messageId: envelope.id, messageName: name, attempt: delivery.attempt, retryInMs: delay }, 'message handler failed; will retry');
      await delivery.retry(delay);
      return 'retried';
    } finally {
      clearInterval(keepLease);
    }
  }

  /** Full jitter: a uniform delay in [0, min(cap, base · 2^(attempt-1))]. */
  backoff(attempt: number): number {
    const ceiling = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(Math.random() * ceiling);
  }

  /**
   * Runs the handler in one transaction with the inbox record; returns true when
   * the inbox already had the message (a redelivery), in which case nothing runs.
   */
  async handle(envelope: Envelope, handler: MessageHandler<MessageName>, inTransaction?: (tx: pg.PoolClient) => Promise<void>, attempt = 1): Promise<boolean> {
    return this.options.db.transaction(
      async (tx, recorded) => {
        const first = freshIds(recorded).has(envelope.id.toLowerCase());
        if (first) await this.runHandler(tx, envelope, handler, attempt);
        await inTransaction?.(tx);
        return !first;
      },
      { prelude: this.inboxInsert([envelope]) },
    );
  }

  /**
   * Group commit. Deliveries that arrive together (different keys: the brokers
   * never hand out two of one key at once) share a transaction — one BEGIN, one
   * inbox INSERT and one COMMIT for all of them, each handler in turn. A delivery
   * joins a waiting line. A transaction running handlers takes the line at the
   * end of each round, until nothing joined or `batchSize` is reached; then it
   * commits, and another may start during that commit. Up to `transactions` run
   * handlers at once; a delivery that finds fewer starts one at once.
   *
   * If any handler of a batch fails, or its commit does, none of the batch took
   * effect, and each message is handled again in a transaction of its own: the
   * failing one fails alone, with its own error, and the others commit.
   */
  private handleInTurn(envelope: Envelope, handler: MessageHandler<MessageName>, attempt: number): Promise<boolean> {
    return new Promise((done, failed) => {
      this.waiting.push({ envelope, handler, attempt, context: context.active(), done, failed });
      this.openTransaction();
    });
  }

  private openTransaction(): void {
    if (this.handling >= this.options.transactions || this.transactionsOpen > this.options.transactions || this.waiting.length === 0) return;
    this.handling += 1;
    this.transactionsOpen += 1;
    void this.runBatch(this.waiting.splice(0, this.options.batchSize)).finally(() => {
      this.transactionsOpen -= 1;
      this.openTransaction();
    });
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    let handlersDone = false;
    /** This batch is done with handlers (committing, or failed and handled again): the next may start. */
    const doneWithHandlers = () => {
      if (handlersDone) return;
      handlersDone = true;
      this.handling -= 1;
      this.openTransaction();
    };
    let duplicates: boolean[];
    try {
      duplicates = await this.batchTransaction(batch, doneWithHandlers);
    } catch (error) {
      this.batchSizes?.observe(batch.length);
      if (batch.length === 1 && (error as { code?: string }).code !== LOCK_NOT_AVAILABLE) {
        doneWithHandlers();
        batch[0]!.failed(error);
        return;
      }
      // Nothing of the batch committed: each goes again in a transaction of its own, without the lock timeout.
      for (const waiting of batch) {
        await context.with(waiting.context, () => this.handle(waiting.envelope, waiting.handler, undefined, waiting.attempt)).then(waiting.done, waiting.failed);
      }
      doneWithHandlers();
      return;
    }
    this.batchSizes?.observe(batch.length);
    batch.forEach((waiting, i) => waiting.done(duplicates[i] ?? false));
  }

  /**
   * Handles `batch`, and what joins it before the commit, in one transaction;
   * returns which were duplicates. Calls `committing` once the handlers are done.
   */
  private batchTransaction(batch: Waiting[], committing: () => void): Promise<boolean[]> {
    return this.options.db.transaction(
      async (tx, recorded) => {
        const duplicates: boolean[] = [];
        for (let from = 0; from < batch.length; from = duplicates.length) {
          const joining = batch.slice(from);
          // The first messages' inbox rows went with the BEGIN; those that joined since are recorded now.
          const fresh = from === 0 ? freshIds(recorded) : await this.recordInInbox(tx, joining.map((waiting) => waiting.envelope));
          for (const waiting of joining) {
            // `delete`: the same message twice in one batch (a redelivery racing its lease) runs once.
            const first = fresh.delete(waiting.envelope.id.toLowerCase());
            if (first) await context.with(waiting.context, () => this.runHandler(tx, waiting.envelope, waiting.handler, waiting.attempt));
            duplicates.push(!first);
          }
          batch.push(...this.waiting.splice(0, this.options.batchSize - batch.length));
        }
        committing();
        return duplicates;
      },
      { lockTimeoutMs: this.options.batchLockTimeoutMs, prelude: this.inboxInsert(batch.map((waiting) => waiting.envelope)) },
    );
  }

  /** `recordInInbox` as literal SQL, to go with a transaction's BEGIN (no round trip of its own). */
  private inboxInsert(envelopes: readonly Envelope[]): string {
    return inlineSql(INBOX_INSERT, this.inboxValues(envelopes));
  }

  private inboxValues(envelopes: readonly Envelope[]): unknown[] {
    return [this.options.group, envelopes.map((envelope) => envelope.id), envelopes.map((envelope) => messageName(envelope))];
  }

  /** Records the messages as processed by this consumer; returns the ids (lower case, as PostgreSQL prints a uuid) it had not processed yet. */
  private async recordInInbox(tx: pg.PoolClient, envelopes: readonly Envelope[]): Promise<Set<string>> {
    const { rows } = await tx.query<{ message_id: string }>(INBOX_INSERT, this.inboxValues(envelopes));
    return freshIds(rows);
  }

  private async runHandler(tx: pg.PoolClient, envelope: Envelope, handler: MessageHandler<MessageName>, attempt: number): Promise<void> {
    const request = { requestId: envelope.correlationId, causationId: envelope.id };
    const log = this.options.log.child({ messageId: envelope.id, correlationId: envelope.correlationId });
    await context.with(withRequestContext(context.active(), request), () => handler(envelope.data as never, { tx, envelope, outbox: this.options.outbox, log, attempt }));
  }

  handlerFor(name: string): MessageHandler<MessageName> | undefined {
    return this.options.handlers[name as MessageName] as MessageHandler<MessageName> | undefined;
  }

  /** Records the delivery in the dead-letter queue, then acks it (in that order: never lost). */
  private async deadLetter(delivery: Delivery, reason: DeadLetterReason, error: string): Promise<void> {
    const message = delivery.message as Partial<Envelope> | undefined;
    const id = typeof message?.id === 'string' && /^[0-9a-f-]{36}$/i.test(message.id) ? message.id : null;
    const name = nameOf(message);
    await this.options.db.query(
      `INSERT INTO dead_letters (id, consumer, message_id, message_name, raw, reason, error, attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (consumer, message_id) WHERE message_id IS NOT NULL DO NOTHING`,
      [randomUUID(), this.options.group, id, name, delivery.raw, reason, error.slice(0, 4000), delivery.attempt],
    );
    if (reason !== 'HANDLER_FAILED') this.options.log.warn({ messageId: id, messageName: name, reason, error }, 'message dead-lettered');
    await delivery.ack();
  }

  private startSpan(message: Partial<Envelope> | undefined, name: string, attempt: number): Span {
    const carrier: Record<string, string> = {};
    if (typeof message?.traceparent === 'string') carrier['traceparent'] = message.traceparent;
    if (typeof message?.tracestate === 'string') carrier['tracestate'] = message.tracestate;
    const parent = propagation.extract(context.active(), carrier);
    return tracer().startSpan(
      `process ${name}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.operation.type': 'process',
          'messaging.destination.name': name,
          'messaging.consumer.group.name': this.options.group,
          'messaging.message.id': typeof message?.id === 'string' ? message.id : '',
          'messaging.message.delivery_count': attempt,
        },
      },
      parent,
    );
  }
}

/** The ids (lower case, as PostgreSQL prints a uuid) an inbox insert returned: the messages not processed before. */
function freshIds(rows: readonly pg.QueryResultRow[]): Set<string> {
  return new Set(rows.map((row) => row['message_id'] as string));
}

/** The message name of a delivery that may not be a valid envelope; null when it has none. */
function nameOf(message: Partial<Envelope> | undefined): string | null {
  return typeof message?.type === 'string' && typeof message.version === 'number' ? messageName(message as Envelope) : null;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
