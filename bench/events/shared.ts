/** What bench/events/run.ts and its consumer child process (consumer.ts) share. */
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import type { Envelope, MessageData } from '@bazaar/contracts/messages';
import { EmbeddedBroker, MessageConsumer, NatsBroker, Outbox, type Broker, type Database, type MessageHandlers } from '@bazaar/chassis';

export const NAME = 'identity.user-registered.v1';
export type Registered = MessageData<typeof NAME>;
export const GROUP = 'notifications';
export const FLOWS = { groups: { [GROUP]: [NAME] } };
/** Deliveries in hand at once: the consumer's default (32) unless BENCH_CONSUMER_CONCURRENCY says otherwise. */
export const CONSUMER_CONCURRENCY = Number(process.env['BENCH_CONSUMER_CONCURRENCY'] ?? 32);
export const quiet = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

/** How to reach an adapter's broker, as plain data (passed to the consumer child process). */
export type BrokerConfig = { kind: 'embedded'; url: string } | { kind: 'nats'; url: string; prefix: string; partitions?: number };

export function makeBroker(config: BrokerConfig, role: string): Broker {
  return config.kind === 'embedded'
    ? new EmbeddedBroker(config.url, { connectionName: `bench-${role}` })
    : new NatsBroker(config.url, { prefix: config.prefix, ...(config.partitions ? { partitions: config.partitions } : {}), connectionName: `bench-${role}` });
}

/** Handled message `id`: handed to the consumer at `deliveredAt`, its handler (transaction committed, delivery acked) resolved at `at`. */
export type Settled = (id: string, deliveredAt: number, at: number) => void;

/** The broker MessageConsumer gets: records when each delivery reached the consumer and when its handler resolved. */
export function timed(inner: Broker, settled: Settled): Broker {
  return {
    kind: inner.kind,
    declare: (flows) => inner.declare(flows),
    publish: (messages) => inner.publish(messages),
    ping: () => inner.ping(),
    listen: (names, onNotice, options) => inner.listen(names, onNotice, options),
    close: () => inner.close(),
    subscribe: (group, handler, options) =>
      inner.subscribe(
        group,
        async (delivery) => {
          const deliveredAt = performance.now();
          await handler(delivery);
          const at = performance.now();
          const id = (delivery.message as Partial<Envelope> | undefined)?.id;
          if (typeof id === 'string') settled(id, deliveredAt, at);
        },
        options,
      ),
  };
}

/** The handler: an effect row in the consumer's transaction (with the inbox record). */
export const recordEffect: MessageHandlers = {
  [NAME]: async (data: Registered, { tx, envelope }) => {
    await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
  },
};

/** `batchSize` 1 gives every message a transaction of its own (the comparison rows); default: the consumer's group commit. */
export function benchConsumer(db: Database, broker: Broker, settled: Settled, batchSize?: number): MessageConsumer {
  return new MessageConsumer({
    group: GROUP,
    db,
    broker: timed(broker, settled),
    outbox: new Outbox(GROUP, []),
    handlers: recordEffect,
    log: quiet,
    concurrency: CONSUMER_CONCURRENCY,
    ...(batchSize ? { batchSize } : {}),
  });
}

/** Messages between run.ts and consumer.ts. */
export type ToConsumer = { type: 'start' } | { type: 'stop' } | { type: 'exit' };
export type FromConsumer =
  | { type: 'ready'; timeOrigin: number }
  | { type: 'started' }
  | { type: 'settled'; ids: string[]; delivered: number[]; at: number[] }
  | { type: 'stopped'; elu: number };
