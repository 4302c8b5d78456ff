import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { checkMessageData, messageName, parseMessageName, type Envelope, type MessageData, type MessageName } from '@bazaar/contracts/messages';
import { writeBehind, type Database, type Queryable } from '../database.ts';
import { currentRequestContext } from '../request-context.ts';
import { injectTraceContext } from '../telemetry.ts';
import type { Broker } from './broker.ts';

export interface OutgoingOptions {
  /** Aggregate key: the order of delivery is kept among messages with the same key. */
  key: string;
  /** Commands and replies: the service (consumer group) the message is for. */
  destination?: string;
  /** Commands: the service that receives the reply. */
  replyTo?: string;
}

/** A message that does not match its contract, or that the topology does not let this service publish. */
export class MessageContractError extends Error {}

/**
 * The writing side of the transactional outbox: a service adds its messages in
 * the same transaction as the state change they announce. Nothing reaches the
 * broker unless that transaction commits; the relay publishes what did.
 */
export class Outbox {
  private readonly service: string;
  private readonly allowed: ReadonlySet<string>;

  constructor(service: string, publishes: readonly string[]) {
    this.service = service;
    this.allowed = new Set(publishes);
  }

  /**
   * Adds `name` with payload `data` to the outbox, inside `tx`. The envelope gets
   * a fresh id, the correlation id of the request (or message) being handled,
   * the handled message as its cause, and the active trace context.
   */
  async add<N extends MessageName>(tx: Queryable, name: N, data: MessageData<N>, options: OutgoingOptions): Promise<Envelope> {
    const envelope = this.envelope(name, data, options);
    await this.insert(tx, [envelope]);
    return envelope;
  }

  /** Builds (and validates) an envelope without writing it. */
  envelope<N extends MessageName>(name: N, data: MessageData<N>, options: OutgoingOptions): Envelope {
    if (!this.allowed.has(name)) throw new MessageContractError(`${this.service} does not publish ${name} (see packages/topology)`);
    const errors = checkMessageData(name, data);
    if (errors.length > 0) throw new MessageContractError(`${name} does not match its contract: ${errors.join('; ')}`);
    const request = currentRequestContext();
    const trace = injectTraceContext({}, context.active());
    const { type, version } = parseMessageName(name);
    return {
      id: randomUUID(),
      type,
      version,
      time: new Date().toISOString(),
      key: options.key,
      correlationId: request?.requestId ?? randomUUID(),
      causationId: request?.causationId ?? null,
      ...(trace['traceparent'] ? { traceparent: trace['traceparent'] } : {}),
      ...(trace['tracestate'] ? { tracestate: trace['tracestate'] } : {}),
      ...(options.destination ? { destination: options.destination } : {}),
      ...(options.replyTo ? { replyTo: options.replyTo } : {}),
      data,
    };
  }

  /**
   * Writes envelopes built by `envelope()`; wakes the relay when the transaction
   * commits. In a transaction of `Database.transaction` the rows go with its
   * COMMIT (one round trip for every message of the transaction and the commit);
   * elsewhere they are written now.
   */
  async insert(tx: Queryable, envelopes: readonly Envelope[]): Promise<void> {
    if (envelopes.length === 0) return;
    await writeBehind(
      tx,
      `WITH rows AS (
         INSERT INTO outbox (id, message_name, key, body)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
         RETURNING 1)
       SELECT pg_notify('bazaar_outbox', '') FROM rows LIMIT 1`,
      [envelopes.map((e) => e.id), envelopes.map(messageName), envelopes.map((e) => e.key), envelopes.map((e) => JSON.stringify(e))],
    );
  }
}

export interface RelayOptions {
  /** The service's database; the relay keeps one of its connections to LISTEN, hold the relay lock, read the outbox and mark rows published. */
  db: Database;
  broker: Broker;
  log: FastifyBaseLogger;
  metrics?: Registry;
  /** Safety-net poll for a lost notification. Default 1 s. */
  pollMs?: number;
  /** Rows read and published per round. Default 256. */
  batchSize?: number;
  /** Published rows are deleted after this long. Default 1 h. */
  retentionMs?: number;
  /** How often published rows are pruned. Default 5 min. */
  pruneEveryMs?: number;
  /** Application name of the relay's connections. */
  name?: string;
  /**
   * Published rows are marked by the relay's next read; when none comes within
   * this long, by a read of their own. Default 200 ms.
   */
  markDelayMs?: number;
}

interface OutboxRow {
  seq: string;
  key: string;
  body: string;
}

/** Session advisory lock that makes one relay per database the publisher. */
const RELAY_LOCK = 7_241_020;

/**
 * The publishing side of the outbox. Woken by NOTIFY when a transaction that
 * wrote to the outbox commits (with a slow poll as a safety net), it reads
 * unpublished rows in commit order, publishes them — keys in parallel, each
 * key's messages in order — and marks them published only after the broker
 * acknowledged them, with the statement that reads the next batch (or on its own
 * after `markDelayMs`). A crash at any instant leaves rows unpublished, and they
 * are published again (the broker de-duplicates on the message id; consumers'
 * inboxes absorb what gets through twice). One relay per database publishes at a
 * time (an advisory lock held by its connection); replicas stand by.
 */
export class OutboxRelay {
  private readonly options: Required<Omit<RelayOptions, 'metrics'>> & { metrics?: Registry };
  /** Whether this relay currently holds the publishing lock. */
  get isLeader(): boolean {
    return this.leader;
  }
  private listener: pg.PoolClient | undefined;
  private leader = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private poll: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private markTimer: NodeJS.Timeout | undefined;
  /** Rows published since start (tests and benchmarks read it). */
  published = 0;
  /** Sequence numbers of rows the broker acknowledged that are not marked published yet: the next read marks them. */
  private unmarked: string[] = [];

  constructor(options: RelayOptions) {
    this.options = { pollMs: 1_000, batchSize: 256, retentionMs: 3_600_000, pruneEveryMs: 300_000, name: 'outbox-relay', markDelayMs: 200, ...options };
    if (options.metrics) this.installMetrics(options.metrics);
  }

  async start(): Promise<void> {
    await this.connect().catch(() => this.scheduleReconnect());
    this.poll = setInterval(() => this.wake(), this.options.pollMs);
    this.pruneTimer = setInterval(() => void this.prune().catch(() => {}), this.options.pruneEveryMs);
    this.poll.unref();
    this.pruneTimer.unref();
    this.wake();
  }

  private async connect(): Promise<void> {
    const client = await this.options.db.pool.connect();
    client.on('error', (error) => {
      if (this.listener === client) {
        this.listener = undefined;
        this.leader = false;
        client.release(error);
      }
      this.scheduleReconnect();
    });
    client.on('notification', () => this.wake());
    if (this.stopped) {
      client.release();
      return;
    }
    try {
      await client.query('LISTEN bazaar_outbox');
      // This connection only reads the outbox and marks rows published: a mark lost in a
      // crash means the rows go again (de-duplicated by the broker, absorbed by inboxes),
      // so it need not wait for a disk sync.
      await client.query('SET synchronous_commit = off');
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    this.listener = client;
    this.wake();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.connect().catch(() => this.scheduleReconnect());
    }, 500);
  }

  /** Runs a drain now, or right after the one in progress. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      if (!(await this.lead())) return;
      for (;;) {
        const count = await this.publishBatch();
        this.failures = 0;
        if (count < this.options.batchSize || this.stopped) return;
      }
    } catch (error) {
      // Broker or database down: keep the rows, try again with backoff (the poll also retries).
      this.failures += 1;
      if (this.failures === 1 || this.failures % 20 === 0) this.options.log.warn({ err: error, failures: this.failures }, 'outbox relay: publish failed; will retry');
      const delay = Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.wake(), delay);
      this.retryTimer.unref();
    }
  }

  /** Takes the relay lock on the listening connection if no other relay holds it. */
  private async lead(): Promise<boolean> {
    if (this.leader) return true;
    if (!this.listener) return false;
    const { rows } = await this.listener.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RELAY_LOCK]);
    this.leader = rows[0]?.locked === true;
    return this.leader;
  }

  /**
   * Publishes one batch of unpublished rows; returns how many it read. The rows
   * the broker acknowledged last time are marked published by the same statement
   * that reads the next batch (one round trip and one commit per batch, not two):
   * until then they count as unpublished, and a crash in between publishes them
   * again, which the broker's de-duplication on message ids and the consumers'
   * inboxes absorb — as for a crash between publishing and marking.
   */
  private async publishBatch(): Promise<number> {
    const relay = this.listener;
    if (!relay) throw new Error('the relay lost its connection');
    const marking = this.unmarked;
    const { rows } = await relay.query<OutboxRow>(
      // The UPDATE runs whether or not the SELECT reads it; the SELECT sees the rows as they
      // were before it, hence `<> ALL`. ORDER BY the column, not the text alias: "10" sorts before "9".
      `WITH marked AS (UPDATE outbox SET published_at = now() WHERE seq = ANY($2::bigint[]))
       SELECT seq::text AS seq, key, body FROM outbox
       WHERE published_at IS NULL AND seq <> ALL($2::bigint[]) ORDER BY outbox.seq LIMIT $1`,
      [this.options.batchSize, marking],
    );
    this.unmarked = [];
    if (rows.length === 0) return 0;
    // One call: the broker keeps each key's order and may publish different keys in
    // parallel. If it rejects, nothing is marked and the whole batch goes again (the
    // broker de-duplicates on message ids).
    await this.options.broker.publish(rows.map((row) => JSON.parse(row.body) as Envelope));
    this.unmarked = rows.map((r) => r.seq);
    this.published += rows.length;
    // When no read comes first (nothing more was written), a drain of its own marks them.
    this.markTimer ??= setTimeout(() => {
      this.markTimer = undefined;
      if (this.unmarked.length > 0) this.wake();
    }, this.options.markDelayMs).unref();
    return rows.length;
  }

  /** Marks what was published and not marked yet (on stop: nothing goes again after a clean shutdown). */
  private async markPublished(): Promise<void> {
    const relay = this.listener;
    if (!relay || this.unmarked.length === 0) return;
    await relay.query('UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])', [this.unmarked]);
    this.unmarked = [];
  }

  /** Deletes rows published longer ago than the retention. */
  async prune(): Promise<number> {
    const { rowCount } = await this.options.db.query(
      `DELETE FROM outbox WHERE published_at < now() - $1 * interval '1 millisecond'`,
      [this.options.retentionMs],
    );
    return rowCount ?? 0;
  }

  private installMetrics(registry: Registry): void {
    const db = this.options.db;
    const read = async () => {
      const { rows } = await db.query<{ backlog: string; oldest: number | null }>(
        'SELECT count(*)::text AS backlog, extract(epoch FROM now() - min(created_at))::float8 AS oldest FROM outbox WHERE published_at IS NULL',
      );
      return { backlog: Number(rows[0]?.backlog ?? 0), oldest: rows[0]?.oldest ?? 0 };
    };
    new Gauge({
      name: 'outbox_backlog_messages',
      help: 'Messages written to the outbox and not yet marked published (the relay marks what the broker acknowledged with its next read, or within markDelayMs)',
      registers: [registry],
      async collect() {
        this.set((await read().catch(() => ({ backlog: Number.NaN }))).backlog);
      },
    });
    new Gauge({
      name: 'outbox_oldest_unpublished_age_seconds',
      help: 'Age of the oldest message not yet marked published (0 when none)',
      registers: [registry],
      async collect() {
        this.set((await read().catch(() => ({ oldest: Number.NaN }))).oldest ?? 0);
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    clearInterval(this.pruneTimer);
    clearTimeout(this.reconnect);
    clearTimeout(this.retryTimer);
    clearTimeout(this.markTimer);
    await this.running;
    await this.markPublished().catch(() => {});
    const listener = this.listener;
    this.listener = undefined;
    // Destroy rather than return the connection: it holds the relay lock and a LISTEN.
    listener?.release(true);
  }
}
