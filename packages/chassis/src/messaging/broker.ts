import type { Envelope } from '@bazaar/contracts/messages';

/**
 * The broker port. Two adapters implement it — `EmbeddedBroker` (PostgreSQL, its
 * own database) and `NatsBroker` (NATS JetStream) — and both pass the same
 * conformance suite (`testing/broker-conformance.ts`).
 *
 * The port is deliberately small: durable publish with acknowledgement,
 * at-least-once delivery to consumer groups with per-key ordering, leases and
 * delayed redelivery, and best-effort notices of events to every listening
 * process. Validation, the inbox, retry policy and the dead-letter
 * queue are the consumer's business (`consumer.ts`), identical on both adapters.
 */
export interface Broker {
  readonly kind: 'embedded' | 'nats';
  /**
   * Creates what the declared message flows need (tables, streams, durable
   * consumers, subscriptions), idempotently. Every service declares the whole
   * system's flows at start, so an event published before its consumer first
   * started is still kept for it.
   */
  declare(flows: MessageFlows): Promise<void>;
  /**
   * Publishes `messages` in order. Resolves only when the broker has durably
   * accepted every one; rejects if any was not (callers retry the whole call —
   * publishing is de-duplicated on the envelope id). Events go to every group
   * subscribed to their type; commands and replies to `envelope.destination`.
   */
  publish(messages: readonly Envelope[]): Promise<void>;
  /**
   * Delivers the messages of consumer group `group`. Replicas subscribing with the
   * same group share the work; each message goes to one of them. Messages with
   * the same key are delivered one at a time, in publish order — including across
   * retries: a message waiting for redelivery holds back the ones behind it.
   */
  subscribe(group: string, handler: DeliveryHandler, options?: SubscribeOptions): Promise<Subscription>;
  /**
   * Best-effort, non-durable: calls `onNotice` for every event of the given
   * message names published from now on, in every process that listens (no
   * group, no ack, no replay; a notice missed while disconnected is lost).
   *
   * For state every replica keeps for itself (a cache to invalidate), which a
   * consumer group cannot serve: it hands each message to one member. Resolves
   * once notices are flowing. Commands and replies (a destination) are never
   * noticed. A message published again may be noticed again. `options.onGap`
   * hears when notices may have been lost (the connection was lost and is
   * back), so that the listener can drop what it derived from them.
   */
  listen(messageNames: readonly string[], onNotice: (notice: Notice) => void, options?: ListenOptions): Promise<Subscription>;
  /** Whether the broker is reachable now (for /readyz and tests). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MessageFlows {
  /** For each consumer group, the message names (contract names) it handles. */
  readonly groups: Readonly<Record<string, readonly string[]>>;
}

export interface SubscribeOptions {
  /** Messages handled at once by this subscriber (different keys). Default 8. */
  concurrency?: number;
}

/** Options both adapters take. */
export interface BrokerOptions {
  /**
   * How long a delivery stays leased to a subscriber without ack, retry or extend
   * before the broker hands it to another (the subscriber died). Default 30 s.
   */
  leaseMs?: number;
  /** Shown in connection names (pg_stat_activity, NATS connz). */
  connectionName?: string;
}

export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

/** One delivery of one message to one subscriber. Settle it exactly once: ack or retry. */
export interface Delivery {
  /** The message as it came off the wire: parsed JSON, not yet validated. */
  readonly message: unknown;
  /** The raw bytes as text, kept for the dead-letter queue when they do not parse. */
  readonly raw: string;
  /** 1 on first delivery, counting every redelivery (including after a crash). */
  readonly attempt: number;
  /** Done: the broker forgets this delivery. */
  ack(): Promise<void>;
  /** Not done: deliver again after `delayMs`, still ahead of later messages with the same key. */
  retry(delayMs: number): Promise<void>;
  /** Still working: renew the lease. */
  extend(): Promise<void>;
}

/** What a listener hears of a published event: which one, not its content. */
export interface Notice {
  /** Message name, e.g. `catalog.product-changed.v1`. */
  readonly name: string;
  /** The envelope key (the aggregate, e.g. the product id). */
  readonly key: string;
  /** The envelope id. */
  readonly id: string;
}

export interface ListenOptions {
  /**
   * Called when the listener is back after losing its connection: notices
   * published meanwhile are lost. Not called for the first connection.
   */
  onGap?: () => void;
}

export interface Subscription {
  /** Stops taking new deliveries and waits for those in hand to settle. */
  close(): Promise<void>;
}

/** Text of a published message on the wire (both adapters use JSON). */
export function encodeEnvelope(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

/** Parses wire text; `undefined` when it is not JSON (the consumer dead-letters it). */
export function decodeMessage(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** `identity` for `identity.user-registered.v1` (or the type `identity.user-registered`). */
export function domainOf(name: string): string {
  const dot = name.indexOf('.');
  return dot === -1 ? name : name.slice(0, dot);
}

/**
 * What a message keeps its order within, on either broker: its key, and for a
 * message addressed to one group (a command, a reply) its contract's domain too —
 * so the replies of two participants about one order do not wait for each other
 * (a saga stage's commands go out together), while one participant's replies, and
 * the commands to it, stay in order.
 */
export function orderingLane(name: string, key: string, destination: string | null): string {
  return destination === null ? key : `${domainOf(name)} ${key}`;
}
