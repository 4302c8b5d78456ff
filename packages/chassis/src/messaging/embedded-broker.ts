import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { messageName, type Envelope } from '@bazaar/contracts/messages';
import {
  decodeMessage,
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

export interface EmbeddedBrokerOptions extends BrokerOptions {
  /** Safety-net poll of each subscriber, for a lost notification and delayed retries. Default 1 s. */
  pollMs?: number;
  /**
   * Acknowledgements go with a subscriber's next claim; when none comes within this
   * long, in a statement of their own. Default 200 ms; keep it well below the lease.
   */
  ackDelayMs?: number;
}

/**
 * The embedded broker: PostgreSQL, in a database of its own, shared by every
 * service process. Publishing inserts the message once and one delivery row per
 * receiving group, then NOTIFYs each group on its own channel; subscribers LISTEN and claim
 * deliveries with `FOR UPDATE SKIP LOCKED`, so there is no polling delay on the
 * hot path (a slow poll remains as a safety net for lost notifications and
 * delayed retries). Per-key order: a delivery is claimable only when no earlier
 * delivery with the same group and key is left — leased, waiting for a retry or
 * pending — where the key is the message's ordering lane (`orderingLane`: for a
 * command or reply, the key within its contract's domain). A lease that expires
 * (the subscriber died) makes the delivery claimable again. See docs/adr/0010-embedded-broker.md.
 *
 * Notices (`listen`) ride on the same statement: every newly published event
 * also NOTIFYs `bazaar_events` with its name, key and id, which every listening
 * process hears on a LISTEN connection of its own.
 */
export class EmbeddedBroker implements Broker {
  readonly kind = 'embedded' as const;
  private readonly pool: pg.Pool;
  /**
   * Connections with asynchronous commit, for bookkeeping only — claims, acks,
   * retries, lease renewals. Losing the last of those in a PostgreSQL crash only
   * means a redelivery, which consumers' inboxes absorb; not waiting for their
   * WAL flush takes two disk syncs off every message's path. Publishing stays on
   * synchronous commit: the relay marks a message sent only once it is durable.
   */
  private readonly bookkeeping: pg.Pool;
  private readonly subscriptions = new Set<EmbeddedSubscription>();
  private readonly listeners = new Set<EmbeddedListener>();
  private schemaReady: Promise<void> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly url: string;
  private readonly options: EmbeddedBrokerOptions;

  constructor(url: string, options: EmbeddedBrokerOptions = {}) {
    this.url = url;
    this.options = options;
    this.pool = new pg.Pool({ connectionString: url, max: 4, application_name: options.connectionName ?? 'bazaar-broker', connectionTimeoutMillis: 5_000 });
    this.pool.on('error', () => {});
    this.bookkeeping = new pg.Pool({
      connectionString: url,
      max: 4,
      application_name: options.connectionName ?? 'bazaar-broker',
      connectionTimeoutMillis: 5_000,
      // The claim is a named statement (parsed once per connection), planned on every run:
      // a plan PostgreSQL kept from when the deliveries table was empty reads the whole
      // table for each delivery it looks at, and a backlog that builds later is claimed at
      // a cost that grows with its square until autovacuum next analyzes the table.
      options: '-c synchronous_commit=off -c plan_cache_mode=force_custom_plan',
    });
    this.bookkeeping.on('error', () => {});
  }

  private ensureSchema(): Promise<void> {
    this.schemaReady ??= createSchema(this.pool).catch((error: unknown) => {
      this.schemaReady = undefined;
      throw error;
    });
    return this.schemaReady;
  }

  async declare(flows: MessageFlows): Promise<void> {
    await this.ensureSchema();
    // Whoever declares also prunes acknowledged messages now and then (kept an hour for de-duplication).
    if (!this.pruneTimer) {
      this.pruneTimer = setInterval(() => void this.prune().catch(() => {}), 300_000);
      this.pruneTimer.unref();
    }
    const rows = Object.entries(flows.groups).flatMap(([group, names]) => names.map((name) => [group, name] as const));
    if (rows.length === 0) return;
    await this.pool.query(
      `INSERT INTO broker_subscriptions (group_name, message_name)
       SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
      [rows.map((r) => r[0]), rows.map((r) => r[1])],
    );
  }

  async publish(messages: readonly Envelope[]): Promise<void> {
    if (messages.length === 0) return;
    await this.ensureSchema();
    // One statement: messages (de-duplicated on id), their deliveries, a NOTIFY per
    // receiving group and one per new event for listeners — sent by PostgreSQL when the
    // statement's transaction commits. A notice carries name, key and id only, far below
    // NOTIFY's 8000-byte payload limit (the key is capped; envelopes allow 200 characters).
    await this.pool.query(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
           AS t(id, message_name, key, destination, body, lane, ord)),
       inserted AS (
         INSERT INTO broker_messages (id, message_name, key, destination, body)
         SELECT id, message_name, key, destination, body FROM input ORDER BY ord
         ON CONFLICT (id) DO NOTHING
         RETURNING seq, id, message_name, key, destination),
       delivered AS (
         -- A delivery's key is its message's ordering lane (orderingLane).
         INSERT INTO broker_deliveries (group_name, seq, key)
         SELECT coalesce(i.destination, s.group_name), i.seq, t.lane
         FROM inserted i JOIN (SELECT DISTINCT ON (id) id, lane FROM input) t ON t.id = i.id
         LEFT JOIN broker_subscriptions s ON i.destination IS NULL AND s.message_name = i.message_name
         WHERE coalesce(i.destination, s.group_name) IS NOT NULL
         ORDER BY i.seq
         RETURNING group_name)
       SELECT pg_notify(${groupChannelSql('g')}, g) FROM (SELECT DISTINCT group_name AS g FROM delivered) AS groups
       UNION ALL
       SELECT pg_notify('${NOTICE_CHANNEL}', json_build_object('name', message_name, 'key', left(key, 1000), 'id', id)::text)
       FROM inserted WHERE destination IS NULL`,
      [
        messages.map((m) => m.id),
        messages.map(messageName),
        messages.map((m) => m.key),
        messages.map((m) => m.destination ?? null),
        messages.map((m) => encodeEnvelope(m)),
        messages.map((m) => orderingLane(messageName(m), m.key, m.destination ?? null)),
      ],
    );
  }

  async subscribe(group: string, handler: DeliveryHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    await this.ensureSchema();
    const subscription = new EmbeddedSubscription(this.url, this.bookkeeping, group, handler, {
      concurrency: options.concurrency ?? 8,
      leaseMs: this.options.leaseMs ?? 5_000,
      pollMs: this.options.pollMs ?? 1_000,
      ackDelayMs: this.options.ackDelayMs ?? 200,
    });
    this.subscriptions.add(subscription);
    await subscription.start();
    return {
      close: async () => {
        this.subscriptions.delete(subscription);
        await subscription.close();
      },
    };
  }

  async listen(messageNames: readonly string[], onNotice: (notice: Notice) => void, options: ListenOptions = {}): Promise<Subscription> {
    const listener = new EmbeddedListener(this.url, new Set(messageNames), onNotice, {
      onGap: options.onGap,
      connectionName: `${this.options.connectionName ?? 'bazaar-broker'}-notices`,
    });
    this.listeners.add(listener);
    await listener.start();
    return {
      close: async () => {
        this.listeners.delete(listener);
        await listener.close();
      },
    };
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Deletes acknowledged messages older than `olderThanMs` (kept that long for de-duplication). */
  async prune(olderThanMs = 3_600_000): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM broker_messages m WHERE published_at < now() - $1 * interval '1 millisecond'
         AND NOT EXISTS (SELECT 1 FROM broker_deliveries d WHERE d.seq = m.seq)`,
      [olderThanMs],
    );
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    this.subscriptions.clear();
    await Promise.all([...this.listeners].map((l) => l.close()));
    this.listeners.clear();
    await Promise.all([this.pool.end(), this.bookkeeping.end()]);
  }
}

const SCHEMA_LOCK = 7_241_010;
/** The channel of event notices (`listen`); each consumer group is woken on a channel of its own (`groupChannel`). */
const NOTICE_CHANNEL = 'bazaar_events';
/** The channel every group was woken on before each had its own: still listened to, for publishers of an earlier release. */
const SHARED_GROUP_CHANNEL = 'bazaar_broker';
/** Longest channel name PostgreSQL keeps (NAMEDATALEN - 1 bytes); a longer one would be cut short by LISTEN and refused by pg_notify. */
const MAX_CHANNEL_BYTES = 63;

/**
 * The channel that wakes consumer group `group`: `bazaar_broker:<group>`, or, when that
 * is too long for a channel name, `bazaar_broker:#` and the MD5 of the group name. A
 * channel per group, because every listener of a channel receives every notification
 * on it: with one shared channel, each publication woke every subscribing process.
 */
export function groupChannel(group: string): string {
  const channel = `${SHARED_GROUP_CHANNEL}:${group}`;
  return Buffer.byteLength(channel) <= MAX_CHANNEL_BYTES ? channel : `${SHARED_GROUP_CHANNEL}:#${createHash('md5').update(group).digest('hex')}`;
}

/** `groupChannel` in SQL, of the text expression `group`. */
function groupChannelSql(group: string): string {
  return `CASE WHEN octet_length('${SHARED_GROUP_CHANNEL}:' || ${group}) <= ${MAX_CHANNEL_BYTES} THEN '${SHARED_GROUP_CHANNEL}:' || ${group} ELSE '${SHARED_GROUP_CHANNEL}:#' || md5(${group}) END`;
}

async function createSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS broker_subscriptions (
        group_name text NOT NULL, message_name text NOT NULL, PRIMARY KEY (message_name, group_name));
      CREATE TABLE IF NOT EXISTS broker_messages (
        seq bigserial PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        message_name text NOT NULL,
        key text NOT NULL,
        destination text,
        body text NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE IF NOT EXISTS broker_deliveries (
        group_name text NOT NULL,
        seq bigint NOT NULL REFERENCES broker_messages (seq) ON DELETE CASCADE,
        key text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        available_at timestamptz NOT NULL DEFAULT now(),
        leased_until timestamptz,
        leased_by text,
        PRIMARY KEY (group_name, seq));
      CREATE INDEX IF NOT EXISTS broker_deliveries_by_key ON broker_deliveries (group_name, key, seq);`);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => {});
    client.release();
  }
}

interface Claimed {
  seq: string;
  attempts: number;
  body: string;
}

class EmbeddedSubscription {
  private readonly consumerId = randomUUID();
  private listener: pg.Client | undefined;
  private closed = false;
  private inFlight = 0;
  private pumping = false;
  private pumpAgain = false;
  /** Notifications for this group so far. */
  private notices = 0;
  /** What the last claim knew: `notices` when it started, and whether it saw deliveries it could not take. */
  private lastClaim = { notices: 0, leftSome: false };
  private readonly settled = new Set<Promise<void>>();
  /**
   * Deliveries acknowledged and not deleted yet: the next claim deletes them in the same
   * statement (and counts them as gone), or `flushAcks` does after `ackDelayMs`. One lost
   * in a crash is delivered again when its lease ends, and the consumer's inbox absorbs it.
   */
  private acks: string[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private readonly url: string;
  private readonly pool: pg.Pool;
  private readonly group: string;
  private readonly handler: DeliveryHandler;
  private readonly options: { concurrency: number; leaseMs: number; pollMs: number; ackDelayMs: number };

  constructor(url: string, pool: pg.Pool, group: string, handler: DeliveryHandler, options: { concurrency: number; leaseMs: number; pollMs: number; ackDelayMs: number }) {
    this.url = url;
    this.pool = pool;
    this.group = group;
    this.handler = handler;
    this.options = options;
  }

  async start(): Promise<void> {
    await this.listen().catch(() => this.scheduleReconnect());
    this.poll = setInterval(() => this.pump(), this.options.pollMs);
    this.pump();
  }

  /** A dedicated connection LISTENing for this group's notifications; re-opened when lost. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: `bazaar-broker-listen-${this.group}`, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => {});
      this.scheduleReconnect();
    });
    client.on('notification', (n) => {
      if (n.payload !== this.group) return;
      this.notices += 1;
      this.pump();
    });
    await client.connect();
    await client.query(`LISTEN ${client.escapeIdentifier(groupChannel(this.group))}; LISTEN ${SHARED_GROUP_CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    this.pump(); // whatever arrived while we were not listening
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.listen().catch(() => this.scheduleReconnect());
    }, 500);
  }

  /** Claims and starts as many deliveries as there is room for, until none is left. */
  private pump(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (!this.closed && this.inFlight < this.options.concurrency) {
            const room = this.options.concurrency - this.inFlight;
            const claimed = await this.claim(room);
            for (const row of claimed) this.dispatch(row);
            // Fewer than asked for: nothing else was claimable now (one round trip less per
            // message than asking again). What waits is claimed once deliveries settle.
            if (claimed.length < room) break;
          }
        } while (this.pumpAgain && !this.closed && this.inFlight < this.options.concurrency);
      } catch {
        // Broker database unreachable: the poll tries again.
      } finally {
        this.pumping = false;
      }
    })();
  }

  /**
   * Deletes the deliveries acknowledged since the last claim, then leases up to `limit`
   * deliveries, in one statement (the deleted ones no longer hold back later messages
   * of their keys). Also counts (up to `limit` + 1) the group's
   * deliveries this subscriber does not hold, as they were before this claim: more
   * of them than it claimed means some are waiting — behind a key in flight, for a
   * retry, or leased by another subscriber — and may be claimable once a delivery
   * settles (`mayBeWaiting`).
   */
  private async claim(limit: number): Promise<Claimed[]> {
    const notices = this.notices;
    const acks = this.takeAcks();
    // A named statement: parsed once per connection; planned on every claim (plan_cache_mode of the pool).
    const claiming = this.pool.query<Claimed & { waiting: number }>({
      name: 'bazaar-broker-claim-acking',
      text: `WITH acked AS (
         DELETE FROM broker_deliveries WHERE group_name = $1 AND seq = ANY($5::bigint[]) AND leased_by = $4),
       next AS (
         SELECT d.group_name, d.seq FROM broker_deliveries d
         WHERE d.group_name = $1 AND d.available_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now())
           AND d.seq <> ALL($5::bigint[])
           -- The first undeleted delivery of its key. Not NOT EXISTS (an earlier one): with
           -- statistics of an empty table, PostgreSQL runs that as an anti-join that reads the
           -- whole group once per delivery (1,500 deliveries: 2.25 M rows, 0.5 s per claim); this
           -- subquery is one index probe per delivery whatever the statistics say.
           AND d.seq = (SELECT min(e.seq) FROM broker_deliveries e WHERE e.group_name = d.group_name AND e.key = d.key AND e.seq <> ALL($5::bigint[]))
         ORDER BY d.seq LIMIT $2 FOR UPDATE SKIP LOCKED),
       claimed AS (
         UPDATE broker_deliveries d SET attempts = d.attempts + 1, leased_until = now() + $3 * interval '1 millisecond', leased_by = $4
         FROM next, broker_messages m
         WHERE d.group_name = next.group_name AND d.seq = next.seq AND m.seq = d.seq
         RETURNING d.seq, d.attempts, m.body),
       waiting AS (
         SELECT count(*)::int AS n FROM (SELECT 1 FROM broker_deliveries w WHERE w.group_name = $1 AND w.leased_by IS DISTINCT FROM $4 LIMIT $2 + 1) AS w)
       SELECT c.seq::text AS seq, c.attempts, c.body, waiting.n AS waiting FROM waiting LEFT JOIN claimed c ON true`,
      values: [this.group, limit, this.options.leaseMs, this.consumerId, acks],
    });
    const { rows } = await claiming.catch((error: unknown) => {
      this.acks.unshift(...acks); // not sent: they go with the next attempt
      throw error;
    });
    const claimed = rows.filter((row) => row.seq !== null);
    this.lastClaim = { notices, leftSome: (rows[0]?.waiting ?? 0) > claimed.length };
    return claimed.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
  }

  /**
   * Whether a claim after a delivery settles may find something: the last claim saw
   * deliveries it could not take, or a notification came since it started (a message
   * its snapshot did not see, maybe held back behind one in flight).
   */
  private mayBeWaiting(): boolean {
    return this.lastClaim.leftSome || this.notices !== this.lastClaim.notices;
  }

  private dispatch(row: Claimed): void {
    this.inFlight += 1;
    let settledOnce = false;
    /** Runs the first settlement of the delivery; any later one is a no-op. */
    const settle = async (settlement: () => Promise<unknown>): Promise<void> => {
      if (settledOnce) return;
      settledOnce = true;
      await settlement();
    };
    const delivery: Delivery = {
      message: decodeMessage(row.body),
      raw: row.body,
      attempt: row.attempts,
      ack: () => settle(() => this.ack(row.seq)),
      retry: async (delayMs) => {
        await settle(() =>
          this.pool.query(
            `UPDATE broker_deliveries SET leased_until = NULL, leased_by = NULL, available_at = now() + $4 * interval '1 millisecond'
             WHERE group_name = $1 AND seq = $2 AND leased_by = $3`,
            [this.group, row.seq, this.consumerId, Math.max(0, Math.round(delayMs))],
          ),
        );
        // Wake up for the redelivery instead of waiting for the safety-net poll.
        setTimeout(() => this.pump(), delayMs + 5).unref();
      },
      extend: async () => {
        await this.pool.query(
          `UPDATE broker_deliveries SET leased_until = now() + $4 * interval '1 millisecond' WHERE group_name = $1 AND seq = $2 AND leased_by = $3`,
          [this.group, row.seq, this.consumerId, this.options.leaseMs],
        );
      },
    };
    const running = this.handler(delivery)
      .catch(() => {
        // The consumer settles every delivery itself; an escape here leaves the lease to expire.
      })
      .finally(() => {
        this.inFlight -= 1;
        this.settled.delete(running);
        // Claim again only when something may be waiting (the last claim saw more than it
        // took, or a message arrived meanwhile): otherwise the next notification brings the
        // next message (the poll catches a lost one).
        if (this.mayBeWaiting()) this.pump();
      });
    this.settled.add(running);
  }

  /** Records the delivery as acknowledged: deleted by the next claim, or by `flushAcks` after `ackDelayMs`. */
  private async ack(seq: string): Promise<void> {
    this.acks.push(seq);
    this.ackTimer ??= setTimeout(() => void this.flushAcks(), this.options.ackDelayMs);
  }

  /** The acknowledgements not yet sent, handed to the statement that sends them. */
  private takeAcks(): string[] {
    const acks = this.acks;
    this.acks = [];
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    return acks;
  }

  /** Deletes the acknowledged deliveries no claim took along. */
  private async flushAcks(): Promise<void> {
    const acks = this.takeAcks();
    if (acks.length === 0) return;
    await this.pool
      .query('DELETE FROM broker_deliveries WHERE group_name = $1 AND seq = ANY($2::bigint[]) AND leased_by = $3', [this.group, acks, this.consumerId])
      .catch(() => {
        // The broker database is unreachable: the leases end and the deliveries come back (the inbox absorbs them).
      });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.reconnect);
    await Promise.allSettled([...this.settled]);
    await this.flushAcks();
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
  }
}

/**
 * One `listen`: a dedicated connection LISTENing for event notices, re-opened
 * when lost. Notices sent while it is down are lost (NOTIFY is not queued for
 * absent listeners); `onGap` says so once it is back. TCP keep-alive makes a
 * silently dead connection (a partition) show up as an error, rather than as
 * an unnoticed silence.
 */
class EmbeddedListener {
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  private reconnect: NodeJS.Timeout | undefined;
  private readonly url: string;
  private readonly names: ReadonlySet<string>;
  private readonly onNotice: (notice: Notice) => void;
  private readonly options: { onGap: (() => void) | undefined; connectionName: string };

  constructor(url: string, names: ReadonlySet<string>, onNotice: (notice: Notice) => void, options: { onGap: (() => void) | undefined; connectionName: string }) {
    this.url = url;
    this.names = names;
    this.onNotice = onNotice;
    this.options = options;
  }

  /** Resolves once LISTEN is in place — or, the database being unreachable, once reconnecting is under way (best-effort). */
  async start(): Promise<void> {
    await this.connect().catch(() => this.scheduleReconnect());
    this.started = true;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: this.options.connectionName,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let lost = false;
    const lose = (): void => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lose);
    client.on('end', lose);
    client.on('notification', (message) => {
      if (message.channel === NOTICE_CHANNEL) this.deliver(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTICE_CHANNEL}`);
    } catch (error) {
      lost = true; // the caller schedules the next attempt
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      lost = true;
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    // Back after a loss (or after a first attempt that failed): what was published meanwhile was not heard.
    if (this.started) this.options.onGap?.();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.connect().catch(() => this.scheduleReconnect());
    }, 500);
  }

  private deliver(payload: string | undefined): void {
    const notice = decodeMessage(payload ?? '') as Partial<Notice> | undefined;
    if (typeof notice?.name !== 'string' || typeof notice.key !== 'string' || typeof notice.id !== 'string') return;
    if (!this.names.has(notice.name)) return;
    try {
      this.onNotice({ name: notice.name, key: notice.key, id: notice.id });
    } catch {
      // The listener's own failure: it must not cost the connection (and the notices after this one).
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnect);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
