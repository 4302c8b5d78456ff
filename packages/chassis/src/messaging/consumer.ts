import { randomUUID } from 'node:crypto';
import { context, propagation, trace, SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { checkMessage, messageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';
import type { Database } from '../database.ts';
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
  /** Messages handled at once by this process. Default 8. */
  concurrency?: number;
  /** How often a long-running handler renews its lease. Default 10 s. */
  extendEveryMs?: number;
  /**
   * Inbox records are deleted after this long. Default 14 days: longer than any
   * redelivery can come (the NATS streams keep messages 7 days).
   */
  inboxRetentionMs?: number;
}

type Outcome = 'handled' | 'duplicate' | 'ignored' | 'retried' | 'dead_lettered';

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

  constructor(options: ConsumerOptions) {
    this.options = { maxAttempts: 5, backoffBaseMs: 200, backoffMaxMs: 30_000, concurrency: 8, extendEveryMs: 10_000, inboxRetentionMs: 14 * 86_400_000, ...options };
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
      const duplicate = await this.handle(envelope, handler, undefined, delivery.attempt);
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
    const request = { requestId: envelope.correlationId, causationId: envelope.id };
    return context.with(withRequestContext(context.active(), request), () =>
      this.options.db.transaction(async (tx) => {
        const { rowCount } = await tx.query(
          'INSERT INTO inbox (consumer, message_id, message_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [this.options.group, envelope.id, messageName(envelope)],
        );
        if (rowCount === 0) {
          await inTransaction?.(tx);
          return true;
        }
        const log = this.options.log.child({ messageId: envelope.id, correlationId: envelope.correlationId });
        await handler(envelope.data as never, { tx, envelope, outbox: this.options.outbox, log, attempt });
        await inTransaction?.(tx);
        return false;
      }),
    );
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

/** The message name of a delivery that may not be a valid envelope; null when it has none. */
function nameOf(message: Partial<Envelope> | undefined): string | null {
  return typeof message?.type === 'string' && typeof message.version === 'number' ? messageName(message as Envelope) : null;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
