import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createInbox, nanos, type Msg, type NatsConnection, type Subscription as CoreSubscription } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerUpdateConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { messageName, type Envelope } from '@bazaar/contracts/messages';
import { MESSAGE_PARTITIONS } from '@bazaar/contracts/messages/asyncapi';
import {
  decodeMessage,
  domainOf,
  encodeEnvelope,
  orderingLane,
  type Broker,
  type BrokerOptions,
  type Delivery,
  type DeliveryHandler,
  type ListenOptions,
  type MessageFlows,
  type Notice,
  type SubscribeOptions,
  type Subscription,
} from './broker.ts';

export interface NatsBrokerOptions extends BrokerOptions {
  /**
   * Lower-case prefix of every subject (`bazaar.events.…`) and stream
   * (`BAZAAR_EVENTS`): one per environment sharing a NATS account, or per test
   * run. Default `bazaar`.
   */
  prefix?: string;
  /**
   * Partitions per domain and per consumer group (see {@link NatsBroker}). Every
   * process must use the same number; changing it on a live system reorders keys.
   * Default 16: a partition hands out one message at a time, so partitions are
   * what a group can handle at once (and batch into one transaction).
   */
  partitions?: number;
}

/**
 * The NATS JetStream broker. Two streams hold every message for seven days:
 *
 * - `<PREFIX>_EVENTS`, subjects `<prefix>.events.<domain>.<partition>.<message name>`,
 *   e.g. `bazaar.events.identity.2.identity.user-registered.v1`: events (no
 *   destination), by the domain of their type (its first segment);
 * - `<PREFIX>_COMMANDS`, subjects `<prefix>.commands.<destination>.<partition>.<message name>`:
 *   commands and replies, by the group they are addressed to.
 *
 * The partition is a stable hash of the envelope key (FNV-1a) modulo `partitions`,
 * so all messages with one key land, in publish order, on one subject. Publishing
 * waits for every PubAck and sets `Nats-Msg-Id` to the envelope id, so a message
 * published again within the two-minute duplicate window is stored once.
 *
 * A consumer group is a set of durable pull consumers: for each domain whose
 * events it handles, one per partition (`<group>_ev_<domain>_p<i>`, filtering
 * `<prefix>.events.<domain>.<i>.>`), and one per partition for what is addressed
 * to it (`<group>_cmd_p<i>`). Replicas of a group pull from the same durables, so
 * each message goes to one of them. Every durable has `max_ack_pending: 1`: the
 * server hands out the next message of a partition only once the previous one is
 * acknowledged, which is what keeps per-key order — also across retries, since a
 * message nak'd with a delay stays pending and holds back its partition until it
 * is redelivered and acknowledged. The price is that a partition is handled one
 * message at a time; concurrency comes from partitions and domains. A subscriber
 * pulls the next message of a durable only when it is done with the previous
 * one, so a redelivery after an expired lease (`ack_wait`) goes to a replica that
 * is still working.
 *
 * An events durable starts with the events published after it was created
 * (`deliver_policy: new`): like the embedded broker, an event goes to the groups
 * declared when it is published — a group declared later does not replay the
 * domain's retained history. A command durable takes everything ever addressed
 * to its group (`deliver_policy: all`). Durables outlive processes: what is
 * published while no subscriber runs waits for one (up to the seven days).
 *
 * A group's durables also receive events of its domains that it does not handle;
 * the subscriber acknowledges those without calling the handler. Which names a
 * group handles is recorded in each durable's description (JSON), merged over all
 * declarations, so a process that did not declare the flows itself can subscribe.
 * The lease (`ack_wait`) is set by the subscribers of a group (their `leaseMs`),
 * not by whichever service declared the durable.
 *
 * Notices (`listen`) need no stream: a message published to JetStream is also
 * delivered to core-NATS subscribers of its subject, so a listener subscribes
 * to `<prefix>.events.<domain>.*.<name>` for each name (any partition), with no
 * durable state; what is published while it is disconnected it does not hear.
 */
export class NatsBroker implements Broker {
  readonly kind = 'nats' as const;
  private readonly url: string;
  private readonly prefix: string;
  private readonly partitions: number;
  private readonly leaseMs: number;
  private readonly connectionName: string;
  private readonly streams: { readonly events: string; readonly commands: string };
  /** Message names per group, as declared by this instance (a union over its `declare` calls). */
  private readonly declared = new Map<string, Set<string>>();
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly listeners = new Set<CoreSubscription>();
  /** `onGap` of every `listen`, called when the connection is back after a loss. */
  private readonly gapListeners = new Set<() => void>();
  private connection: Promise<JetStreamClients> | undefined;
  private streamsReady: Promise<void> | undefined;
  private closed = false;

  constructor(url: string, options: NatsBrokerOptions = {}) {
    const prefix = options.prefix ?? 'bazaar';
    if (!/^[a-z][a-z0-9_-]*$/.test(prefix)) throw new Error(`NATS subject prefix must be lower-case letters, digits, _ and - (got "${prefix}")`);
    const partitions = options.partitions ?? MESSAGE_PARTITIONS;
    if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer (got ${partitions})`);
    this.url = url;
    this.prefix = prefix;
    this.partitions = partitions;
    this.leaseMs = options.leaseMs ?? 5_000;
    this.connectionName = options.connectionName ?? 'bazaar-broker';
    const upper = prefix.toUpperCase();
    this.streams = { events: `${upper}_EVENTS`, commands: `${upper}_COMMANDS` };
  }

  /** The connection, opened on first use; a failed attempt is retried by the next call. */
  private clients(): Promise<JetStreamClients> {
    if (this.closed) return Promise.reject(new Error('the NATS broker is closed'));
    this.connection ??= openConnection(this.url, this.connectionName).then(
      (clients) => {
        void this.watchReconnects(clients.nc);
        return clients;
      },
      (error: unknown) => {
        this.connection = undefined;
        throw error;
      },
    );
    return this.connection;
  }

  /**
   * When the connection is back after a loss: subscriptions pull again, and
   * listeners hear of the gap (core subscriptions are restored, but what was
   * published meanwhile is gone). The client reports the reconnection when it has
   * *sent* its subscriptions again; a round trip (the server answers a PING after
   * what came before it) makes sure they are in place before a listener hears of the
   * gap and reads again what it missed, or an event published in between is lost.
   */
  private async watchReconnects(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type !== 'reconnect') continue;
      for (const subscription of this.subscriptions) subscription.reconnected();
      if (this.gapListeners.size === 0) continue;
      try {
        await nc.flush();
      } catch {
        continue; // lost again: the next reconnection reports the gap
      }
      for (const onGap of this.gapListeners) {
        try {
          onGap();
        } catch {
          // The listener's own failure: the others still hear of the gap.
        }
      }
    }
  }

  /** Creates or updates both streams, once per instance (idempotent, safe when processes race). */
  private ensureStreams(): Promise<void> {
    this.streamsReady ??= (async () => {
      const { jsm } = await this.clients();
      await Promise.all([
        ensureStream(jsm, this.streams.events, `${this.prefix}.events.>`),
        ensureStream(jsm, this.streams.commands, `${this.prefix}.commands.>`),
      ]);
    })().catch((error: unknown) => {
      this.streamsReady = undefined;
      throw error;
    });
    return this.streamsReady;
  }

  async declare(flows: MessageFlows): Promise<void> {
    await this.ensureStreams();
    const durables: DurableSpec[] = [];
    for (const [group, names] of Object.entries(flows.groups)) {
      const known = this.declared.get(group) ?? new Set<string>();
      for (const name of names) known.add(name);
      this.declared.set(group, known);
      durables.push(...this.durablesOf(group, names));
    }
    await Promise.all(durables.map((durable) => this.ensureDurable(durable)));
  }

  async publish(messages: readonly Envelope[]): Promise<void> {
    if (messages.length === 0) return;
    await this.ensureStreams();
    const { js } = await this.clients();
    // Same key: one after the other, each after the previous one's PubAck, so a
    // failure cannot let a later message overtake it. Different keys: concurrently.
    const byKey = new Map<string, Envelope[]>();
    for (const message of messages) {
      const sameKey = byKey.get(message.key);
      if (sameKey) sameKey.push(message);
      else byKey.set(message.key, [message]);
    }
    const results = await Promise.allSettled(
      [...byKey.values()].map(async (sameKey) => {
        for (const message of sameKey) {
          const subject = this.subjectOf(message);
          try {
            await js.publish(subject, encodeEnvelope(message), { msgID: message.id });
          } catch (error) {
            throw new Error(`publishing ${message.id} to ${subject} failed: ${(error as Error).message}`, { cause: error });
          }
        }
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async subscribe(group: string, handler: DeliveryHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    await this.ensureStreams();
    const { nc, jsm } = await this.clients();
    // What this instance declared, and in any case the durables for messages
    // addressed to the group; then whatever other processes declared for it.
    await Promise.all(this.durablesOf(group, [...(this.declared.get(group) ?? [])]).map((durable) => this.ensureDurable(durable)));
    const infos: ConsumerInfo[] = [];
    for (const stream of [this.streams.events, this.streams.commands]) {
      for await (const info of jsm.consumers.list(stream)) {
        if (parseDescription(info.config.description)?.group === group) infos.push(info);
      }
    }
    // The lease is the subscriber's: a group's durables take the lease of the processes consuming them.
    await Promise.all(
      infos.filter((info) => info.config.ack_wait !== nanos(this.leaseMs)).map((info) => jsm.consumers.update(info.stream_name, info.name, { ack_wait: nanos(this.leaseMs) })),
    );
    const sources = infos.map((info): Source => {
      const handles = parseDescription(info.config.description)?.handles;
      return { stream: info.stream_name, durable: info.name, handles: handles && new Set(handles) };
    });
    const subscription = new NatsSubscription(nc, sources, handler, { concurrency: options.concurrency ?? 8, leaseMs: this.leaseMs });
    this.subscriptions.add(subscription);
    subscription.start();
    return {
      close: async () => {
        this.subscriptions.delete(subscription);
        await subscription.close();
      },
    };
  }

  async listen(messageNames: readonly string[], onNotice: (notice: Notice) => void, options: ListenOptions = {}): Promise<Subscription> {
    const subjects = [...new Set(messageNames)].map((name) => {
      if (!SUBJECT_TAIL.test(name)) throw new Error(`"${name}" cannot be part of a NATS subject`);
      return `${this.prefix}.events.${token(domainOf(name))}.*.${name}`;
    });
    const { nc } = await this.clients();
    const hear = (error: Error | null, message: Msg): void => {
      if (error) return;
      const notice = noticeOf(message);
      if (!notice) return;
      try {
        onNotice(notice);
      } catch {
        // The listener's own failure: it must not cost the subscription (and the notices after this one).
      }
    };
    const subscriptions = subjects.map((subject) => nc.subscribe(subject, { callback: hear }));
    for (const subscription of subscriptions) this.listeners.add(subscription);
    const onGap = options.onGap;
    if (onGap) this.gapListeners.add(onGap);
    await nc.flush(); // the server has the subscriptions: what is published from now on reaches them
    return {
      close: async () => {
        if (onGap) this.gapListeners.delete(onGap);
        for (const subscription of subscriptions) {
          this.listeners.delete(subscription);
          if (!subscription.isClosed()) subscription.unsubscribe();
        }
      },
    };
  }

  async ping(): Promise<void> {
    const { nc, jsm } = await this.clients();
    await nc.rtt(); // rejects at once while the connection is down (reconnecting)
    await jsm.getAccountInfo(); // and JetStream answers
  }

  /**
   * Deletes both streams, and with them every durable consumer, and the service
   * registry's key-value bucket of the same prefix (`KV_<prefix>_registry`): a
   * whole system's footprint on the server (tests' cleanup).
   */
  async deleteStreams(): Promise<void> {
    const { jsm } = await this.clients();
    for (const stream of [this.streams.events, this.streams.commands, `KV_${this.prefix}_registry`]) {
      await jsm.streams.delete(stream).catch((error: unknown) => {
        if (!(error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND)) throw error;
      });
    }
    this.streamsReady = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    this.subscriptions.clear();
    for (const listener of this.listeners) if (!listener.isClosed()) listener.unsubscribe();
    this.listeners.clear();
    this.gapListeners.clear();
    const clients = await this.connection?.catch(() => undefined);
    this.connection = undefined;
    if (!clients || clients.nc.isClosed()) return;
    // Drain flushes acks and publishes still buffered; while disconnected it would wait for the server forever.
    await withTimeout(clients.nc.drain(), CLOSE_TIMEOUT_MS).catch(() => clients.nc.close());
  }

  /** `<prefix>.events.<domain>.<partition>.<name>` or `<prefix>.commands.<destination>.<partition>.<name>`. */
  private subjectOf(message: Envelope): string {
    const name = messageName(message);
    if (!SUBJECT_TAIL.test(name)) throw new Error(`"${name}" cannot be part of a NATS subject`);
    const destination = message.destination ?? null;
    const partition = partitionOf(orderingLane(name, message.key, destination), this.partitions);
    return destination === null
      ? `${this.prefix}.events.${token(domainOf(name))}.${partition}.${name}`
      : `${this.prefix}.commands.${token(destination)}.${partition}.${name}`;
  }

  /** The durables group `group` needs to receive `names`: per event domain and partition, and per partition for its commands. */
  private durablesOf(group: string, names: readonly string[]): DurableSpec[] {
    const byDomain = new Map<string, string[]>();
    for (const name of names) {
      const domain = token(domainOf(name));
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), name]);
    }
    const durables: DurableSpec[] = [];
    for (let i = 0; i < this.partitions; i += 1) {
      for (const [domain, handles] of byDomain) {
        durables.push({ stream: this.streams.events, name: `${token(group)}_ev_${domain}_p${i}`, filter: `${this.prefix}.events.${domain}.${i}.>`, group, handles });
      }
      durables.push({ stream: this.streams.commands, name: `${token(group)}_cmd_p${i}`, filter: `${this.prefix}.commands.${token(group)}.${i}.>`, group, handles: undefined });
    }
    return durables;
  }

  /**
   * Creates the durable, or adds the names it handles to the existing one's
   * description. Several processes may do this at once with different names (a
   * rolling deploy): the description is re-read after writing, until it holds ours.
   * The lease (`ack_wait`) of an existing durable is left to its subscribers.
   */
  private async ensureDurable(durable: DurableSpec): Promise<void> {
    const { jsm } = await this.clients();
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      try {
        const existing = await consumerInfo(jsm, durable.stream, durable.name);
        if (!existing) {
          const config: Partial<ConsumerConfig> = {
            durable_name: durable.name,
            description: describe(durable.group, durable.handles),
            filter_subject: durable.filter,
            // Events from the group's declaration on (like the embedded broker: an event goes to the
            // groups declared when it is published, not to the whole retained history of its domain);
            // everything ever addressed to the group.
            deliver_policy: durable.handles ? DeliverPolicy.New : DeliverPolicy.All,
            ack_policy: AckPolicy.Explicit,
            ack_wait: nanos(this.leaseMs),
            max_ack_pending: 1,
            max_deliver: -1,
          };
          await jsm.consumers.add(durable.stream, config);
          continue; // verify: a process racing us may have created it with other names
        }
        const recorded = parseDescription(existing.config.description);
        const handles = durable.handles && [...new Set([...(recorded?.handles ?? []), ...durable.handles])];
        const change: Partial<ConsumerUpdateConfig> = {};
        if (recorded?.group !== durable.group || (handles && handles.length !== recorded.handles?.length)) change.description = describe(durable.group, handles);
        if (existing.config.max_ack_pending !== 1) change.max_ack_pending = 1;
        if (existing.config.max_deliver !== -1) change.max_deliver = -1;
        if (Object.keys(change).length === 0) return;
        await jsm.consumers.update(durable.stream, durable.name, change);
      } catch (error) {
        // Lost a race (created or changed meanwhile): read again.
        lastError = error;
      }
    }
    throw new Error(`could not declare the NATS consumer ${durable.name} on ${durable.stream}`, { cause: lastError });
  }
}

const STREAM_NAME_IN_USE = 10_058;
const STREAM_NOT_FOUND = 10_059;
const CONSUMER_NOT_FOUND = 10_014;
const RETENTION_MS = 7 * 24 * 3_600_000;
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** How long one pull request waits on the server for a message before it is renewed. */
const PULL_EXPIRES_MS = 30_000;
/** Past its expiry, how long an unanswered pull request is still waited for before it is taken as lost. */
const PULL_GRACE_MS = 5_000;
/** Bound on draining a pull or the connection at close (it waits for the server). */
const CLOSE_TIMEOUT_MS = 2_000;
/** A message name as the tail of a subject: dot-separated tokens without wildcards or spaces. */
const SUBJECT_TAIL = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Tokens before the message name in an event subject: prefix, `events`, domain, partition. */
const EVENT_SUBJECT_HEAD = 4;

interface JetStreamClients {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

async function openConnection(url: string, name: string): Promise<JetStreamClients> {
  const nc = await connect({ servers: url.split(','), name, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
  try {
    // Fails unless JetStream is enabled for the account.
    const jsm = await jetstreamManager(nc);
    return { nc, js: jetstream(nc), jsm };
  } catch (error) {
    await nc.close();
    throw error;
  }
}

async function ensureStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  const config = {
    subjects: [subject],
    max_age: nanos(RETENTION_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    discard: DiscardPolicy.Old,
  } satisfies Partial<StreamConfig>;
  try {
    await jsm.streams.add({ name, storage: StorageType.File, retention: RetentionPolicy.Limits, ...config });
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE)) throw error;
    await jsm.streams.update(name, config); // exists with another configuration
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === CONSUMER_NOT_FOUND) return undefined;
    throw error;
  }
}

/** One durable consumer of a group, as `declare` creates it. */
interface DurableSpec {
  readonly stream: string;
  readonly name: string;
  readonly filter: string;
  readonly group: string;
  /** Event names of the durable's domain the group handles; `undefined` for a command durable (everything addressed to the group). */
  readonly handles: readonly string[] | undefined;
}

/** What a durable's description records: its group, and for an events durable the names the group handles. */
interface DurableDescription {
  group: string;
  handles?: string[];
}

function describe(group: string, handles: readonly string[] | undefined): string {
  const description: DurableDescription = handles ? { group, handles: [...handles].sort() } : { group };
  return JSON.stringify(description);
}

function parseDescription(text: string | undefined): DurableDescription | undefined {
  const parsed = decodeMessage(text ?? '') as Partial<DurableDescription> | undefined;
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.group !== 'string') return undefined;
  const handles = Array.isArray(parsed.handles) ? parsed.handles.filter((name): name is string => typeof name === 'string') : undefined;
  return handles ? { group: parsed.group, handles } : { group: parsed.group };
}

/**
 * The notice of an event seen on a core subscription: its name from the subject,
 * key and id from the envelope (nothing else of it is looked at).
 */
function noticeOf(message: Msg): Notice | undefined {
  const name = message.subject.split('.').slice(EVENT_SUBJECT_HEAD).join('.');
  const envelope = decodeMessage(message.string()) as { key?: unknown; id?: unknown } | undefined;
  if (typeof envelope !== 'object' || envelope === null || typeof envelope.key !== 'string' || typeof envelope.id !== 'string') return undefined;
  return { name, key: envelope.key, id: envelope.id };
}

/** A subject token and a durable-name part: anything but letters, digits, `_` and `-` becomes `_`. */
function token(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

const utf8 = new TextEncoder();

/** FNV-1a (32 bits) of the key's UTF-8 bytes, modulo `partitions`: stable across processes and versions. */
function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A durable a subscription pulls from, and the event names it passes on (`undefined`: all). */
interface Source {
  stream: string;
  durable: string;
  handles: ReadonlySet<string> | undefined;
}

/**
 * One subscriber: a loop per durable, each pulling one message, handing it to the
 * handler and pulling the next only once the handler is done with it. At most
 * `concurrency` handlers run at once; a message waiting for its turn keeps its
 * lease alive.
 *
 * The loop talks the pull protocol itself ({@link Puller}) rather than through
 * nats.js `fetch()`, which opens a subscription and a pull request per message:
 * an acknowledged message and the request for the next travel as one `+NXT`, and
 * when the server said more messages are waiting the request does not wait
 * (`no_wait`), which the server answers at once without parking a request.
 */
class NatsSubscription {
  private readonly nc: NatsConnection;
  private readonly sources: readonly Source[];
  private readonly handler: DeliveryHandler;
  private readonly leaseMs: number;
  private readonly slots: Slots;
  private readonly loops: Promise<void>[] = [];
  private readonly pullers = new Set<Puller>();
  private readonly stopping = new AbortController();
  private closing: Promise<void> | undefined;

  constructor(nc: NatsConnection, sources: readonly Source[], handler: DeliveryHandler, options: { concurrency: number; leaseMs: number }) {
    this.nc = nc;
    this.sources = sources;
    this.handler = handler;
    this.leaseMs = options.leaseMs;
    this.slots = new Slots(Math.max(1, options.concurrency));
  }

  private get closed(): boolean {
    return this.stopping.signal.aborted;
  }

  start(): void {
    for (const source of this.sources) this.loops.push(this.run(source));
  }

  /** The connection is back: the server may have lost the pull requests waiting there, or may serve them again; ask again now, from a new inbox, rather than at their local deadline. */
  reconnected(): void {
    for (const puller of this.pullers) puller.renew();
  }

  private async run(source: Source): Promise<void> {
    const puller = new Puller(this.nc, source.stream, source.durable);
    this.pullers.add(puller);
    let failures = 0;
    /** The last message, handled and acknowledged by the handler: its ack goes with the next request. */
    let done: PulledMessage | undefined;
    try {
      while (!this.closed) {
        let message: PulledMessage | undefined;
        try {
          message = await puller.next(done);
          failures = 0;
        } catch {
          // Connection lost, durable gone for a moment, JetStream unavailable: pull again after a pause.
          failures += 1;
          await this.pause(Math.min(5_000, 100 * 2 ** failures));
          continue;
        } finally {
          done = undefined;
        }
        if (message) done = await this.deliver(source, message);
      }
    } finally {
      done?.ack();
      this.pullers.delete(puller);
      await puller.close();
    }
  }

  /** Hands `message` to the handler; returns it when the handler acknowledged it (the ack is then sent with the next pull). */
  private async deliver(source: Source, message: PulledMessage): Promise<PulledMessage | undefined> {
    if (this.closed) {
      message.nak(); // arrived as we closed: straight back, for another subscriber
      return undefined;
    }
    if (source.handles && !source.handles.has(message.subject.split('.').slice(EVENT_SUBJECT_HEAD).join('.'))) {
      // An event of the durable's domain that this group does not handle.
      return message;
    }
    const keepLease = setInterval(() => message.working(), Math.max(100, this.leaseMs / 3));
    const admitted = await this.slots.acquire().finally(() => clearInterval(keepLease));
    if (!admitted) {
      message.nak();
      return undefined;
    }
    let acked = false;
    try {
      await this.handler(this.delivery(message, () => (acked = true)));
    } catch {
      // The consumer settles every delivery itself; an escape here leaves the lease to expire.
    } finally {
      this.slots.release();
    }
    return acked ? message : undefined;
  }

  /** `onAck`: the handler acknowledged; the loop sends the ack with its next request (or alone, closing). */
  private delivery(message: PulledMessage, onAck: () => void): Delivery {
    const raw = message.string();
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      return true;
    };
    return {
      message: decodeMessage(raw),
      raw,
      attempt: message.deliveryCount,
      // Not a confirmed ack: a lost ack only means a redelivery, which the consumer's inbox
      // absorbs, and waiting for the server's reply costs a round trip per message.
      ack: async () => {
        if (settle()) onAck();
      },
      retry: async (delayMs) => {
        if (!settle()) return;
        message.nak(Math.max(0, Math.round(delayMs)));
        await this.nc.flush(); // the server has it (or this rejects: the lease will bring the message back)
      },
      extend: async () => {
        if (!settled) message.working();
      },
    };
  }

  /** Waits `ms`, or less if the subscription closes meanwhile. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => {});
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping.abort();
      this.slots.close();
      for (const puller of this.pullers) puller.abandon();
      await Promise.allSettled(this.loops);
    })();
    return this.closing;
  }
}

/** A message pulled from a durable: the JetStream delivery's ack protocol on its reply subject. */
class PulledMessage {
  readonly subject: string;
  /** 1 on first delivery, counting every redelivery. */
  readonly deliveryCount: number;
  /** Messages of the durable still waiting after this one, when it was delivered. */
  readonly pending: number;
  private readonly msg: Msg;

  constructor(msg: Msg) {
    this.msg = msg;
    this.subject = msg.subject;
    // `$JS.ACK.<stream>.<durable>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`; the v2 form
    // has a domain and an account hash after `ACK`, and a random token after <pending>.
    const tokens = (msg.reply ?? '').split('.');
    const last = tokens.length > 9 ? tokens.length - 2 : tokens.length - 1;
    this.pending = Number(tokens[last]);
    this.deliveryCount = Number(tokens[last - 4]);
  }

  string(): string {
    return this.msg.string();
  }

  ack(): void {
    this.msg.respond(ACK);
  }

  /** Back to the server, for redelivery after `delayMs` (at once without one). */
  nak(delayMs?: number): void {
    this.msg.respond(delayMs ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : NAK);
  }

  working(): void {
    this.msg.respond(WORKING);
  }

  /** Acknowledges this message and asks for the next in one protocol message (`+NXT`), replies to `inbox`. */
  ackNext(request: PullRequest, inbox: string): void {
    this.msg.respond(`+NXT ${JSON.stringify(request)}`, { reply: inbox });
  }
}

const ACK = '+ACK';
const NAK = '-NAK';
const WORKING = '+WPI';

/** A pull request (`$JS.API.CONSUMER.MSG.NEXT`): one message, waiting up to `expires` ns; with `no_wait`, answered at once (404) when none is there. */
interface PullRequest {
  batch: 1;
  expires: number;
  no_wait?: true;
}

/**
 * The pull requests of one durable, over one long-lived inbox subscription. Each
 * request gets a reply subject of its own (`<inbox>.<n>`), so that a late status
 * (expired, no messages) of a request given up on is told apart and dropped. A
 * message carries its own subject, so it cannot be: whichever request it
 * answers, it is leased to us and, with `max_ack_pending: 1`, the one to handle
 * next anyway — it answers the request being waited for, or the next call.
 */
class Puller {
  private readonly nc: NatsConnection;
  private readonly api: string;
  private inbox = '';
  private subscription!: CoreSubscription;
  private sequence = 0;
  /** The request being waited for: its number and how to end the wait. */
  private waiting: { n: number; settle: (outcome: PulledMessage | Error | undefined) => void } | undefined;
  private readonly early: PulledMessage[] = [];
  /** Whether the server said messages were waiting behind the last one: then the next request does not wait. */
  private morePending = false;

  constructor(nc: NatsConnection, stream: string, durable: string) {
    this.nc = nc;
    this.api = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`;
    this.listen();
  }

  private listen(): void {
    this.inbox = createInbox();
    this.subscription = this.nc.subscribe(`${this.inbox}.*`, { callback: (error, msg) => this.arrived(error, msg) });
  }

  /**
   * The next message, or `undefined` when none came (the request expired, or was
   * abandoned); rejects on an error status (durable gone, JetStream unavailable).
   * `done`, a message just acknowledged, is acknowledged with this request.
   */
  next(done?: PulledMessage): Promise<PulledMessage | undefined> {
    const early = this.early.shift();
    if (early) {
      done?.ack();
      return Promise.resolve(early);
    }
    const n = (this.sequence += 1);
    const reply = `${this.inbox}.${n}`;
    // `expires` also on a `no_wait` request: while the durable's one message in flight is
    // unacknowledged (a retry waiting out its delay), the server parks even a `no_wait`
    // request, and without `expires` would keep it forever.
    const request: PullRequest = this.morePending ? { batch: 1, no_wait: true, expires: nanos(PULL_EXPIRES_MS) } : { batch: 1, expires: nanos(PULL_EXPIRES_MS) };
    return new Promise((resolve, reject) => {
      // The server answers a waiting request by its expiry; past that (and a margin), the request is taken as lost.
      const deadline = setTimeout(() => {
        if (this.waiting?.n === n) this.renew();
      }, PULL_EXPIRES_MS + PULL_GRACE_MS);
      this.waiting = {
        n,
        settle: (outcome) => {
          clearTimeout(deadline);
          this.waiting = undefined;
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      try {
        if (done) done.ackNext(request, reply);
        else this.nc.publish(this.api, JSON.stringify(request), { reply });
      } catch (error) {
        this.end(n, error as Error);
      }
    });
  }

  private end(n: number, outcome: PulledMessage | Error | undefined): void {
    if (this.waiting?.n === n) this.waiting.settle(outcome);
  }

  private arrived(error: Error | null, msg: Msg): void {
    if (error) return;
    const status = msg.headers?.code ?? 0;
    if (status === 0 && msg.reply?.startsWith('$JS.ACK.')) {
      // A message comes with its own subject, not the request's: whichever request it answers, it is ours to handle.
      const message = new PulledMessage(msg);
      this.morePending = message.pending > 0;
      if (this.waiting) this.waiting.settle(message);
      else this.early.push(message);
      return;
    }
    const n = msg.subject.startsWith(`${this.inbox}.`) ? Number(msg.subject.slice(this.inbox.length + 1)) : Number.NaN;
    if (this.waiting?.n !== n) return; // a late status of a request given up on, or of an inbox left
    this.morePending = false;
    // 404 no messages (no_wait), 408 request expired: nothing now. Anything else is an error.
    if (status === 404 || status === 408) this.end(n, undefined);
    else this.end(n, new Error(`pull from ${this.api} answered ${msg.headers?.status ?? status}`));
  }

  /** Ends the wait for the current request: the caller asks again (or stops). */
  abandon(): void {
    this.waiting?.settle(undefined);
  }

  /**
   * Gives up the current request and its inbox: the connection came back (the
   * server may or may not still hold requests made before, and once our inbox is
   * subscribed again it would serve them), or a request went unanswered past its
   * expiry. Requests to the old inbox have nobody listening once it is drained, so
   * the server drops them rather than hand us a second message while we handle
   * one; what reaches the old inbox meanwhile is still ours.
   */
  renew(): void {
    const old = this.subscription;
    this.listen();
    void withTimeout(old.drain(), CLOSE_TIMEOUT_MS).catch(() => {
      if (!old.isClosed()) old.unsubscribe();
    });
    this.abandon();
  }

  /**
   * Drains the subscription (the server then drops the waiting request: nobody
   * listens to its reply subject) and hands back what arrived meanwhile, so a
   * message the server sent just before is not left leased to nobody — its
   * partition blocked — until `ack_wait` runs out.
   */
  async close(): Promise<void> {
    this.abandon();
    try {
      await withTimeout(this.subscription.drain(), CLOSE_TIMEOUT_MS);
    } catch {
      if (!this.subscription.isClosed()) this.subscription.unsubscribe();
    }
    for (const message of this.early.splice(0)) message.nak();
  }
}

/** A counting semaphore whose waiters are turned away (false) once closed. */
class Slots {
  private free: number;
  private readonly waiting: ((admitted: boolean) => void)[] = [];
  private closed = false;

  constructor(size: number) {
    this.free = size;
  }

  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.free += 1;
  }

  close(): void {
    this.closed = true;
    for (const turnedAway of this.waiting.splice(0)) turnedAway(false);
  }
}
