/**
 * npm run bench:events — the messaging pipeline against its raw limits, interleaved in one run.
 *
 *   raw PostgreSQL   a state change + outbox transaction (INSERT a state row + Outbox.insert), 1 and 16 clients
 *   raw JetStream    @nats-io/jetstream directly on a stream of its own: acked publish serial and
 *                    100 in flight; consume (pull consumer, batches, ack) and consume one at a time
 *                    (fetch 1 → ack → fetch: what the NATS adapter does per partition)
 *   pipeline         outbox → OutboxRelay → broker → MessageConsumer (inbox + effect row), per adapter
 *                    (embedded PostgreSQL broker on its own database; NATS JetStream under a unique prefix):
 *                    throughput on a preloaded backlog, and commit-to-handler-committed latency at fixed rates
 *
 * Each round runs every measurement in turn; tables give the median of the rounds.
 * Writer, relay and consumer run in this process; BENCH_CONSUMER=child puts the consumer in a
 * child process (consumer.ts), as a separate consuming service would be. The other placement is
 * measured too, in comparison rows (throughput, and latency at the first rate).
 * PostgreSQL (embedded, started here) and nats-server share the machine's cores with them.
 * Prints markdown for docs/benchmarks.md.
 *
 * Options (env): BENCH_ROUNDS (3), BENCH_SECONDS per fixed-rate phase (10), BENCH_RAW_SECONDS per raw
 * phase (5), BENCH_MESSAGES preloaded per throughput phase (5000), BENCH_RATES (200,400,1000),
 * BENCH_EXTRA_PARTITIONS (4, the default before ADR 0015; an extra NATS throughput row with that many partitions, 0 = none),
 * BENCH_CONSUMER (inline | child), BENCH_COMPARE_CONSUMER (0; 1 = rows with the consumer in the other placement),
 * BENCH_COMPARE_BATCH (1; 0 = no rows with one transaction per message),
 * BENCH_NATS_URL (nats://127.0.0.1:4222).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Envelope } from '@bazaar/contracts/messages';
import { MESSAGE_PARTITIONS } from '@bazaar/contracts/messages/asyncapi';
import { Database, MESSAGING_MIGRATIONS, NatsBroker, Outbox, OutboxRelay, createDatabaseIfMissing, databaseUrl, migrate, type Broker } from '@bazaar/chassis';
import { startEmbeddedPostgres, type RunningPostgres } from '@bazaar/runtime/embedded-postgres';
import {
  CONSUMER_CONCURRENCY,
  FLOWS,
  GROUP,
  NAME,
  benchConsumer,
  makeBroker,
  quiet,
  type BrokerConfig,
  type FromConsumer,
  type Registered,
  type Settled,
  type ToConsumer,
} from './shared.ts';
import { childrenOf, machineTicks, postmasterPid as postmasterPidOf, ticks } from '../proc.ts';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const rawSeconds = Number(process.env['BENCH_RAW_SECONDS'] ?? 5);
const preload = Number(process.env['BENCH_MESSAGES'] ?? 5_000);
const rates = (process.env['BENCH_RATES'] ?? '200,400,1000').split(',').map(Number);
const extraPartitions = Number(process.env['BENCH_EXTRA_PARTITIONS'] ?? 4);
const natsUrl = process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
/** Where the consumer runs (inline: the relay's process; child: a process of its own); `unbatched`: inline, one transaction per message (comparison). */
type ConsumerMode = 'inline' | 'child' | 'unbatched';
const consumerMode: ConsumerMode = process.env['BENCH_CONSUMER'] === 'child' ? 'child' : 'inline';
/** The other placement of the consumer, measured in extra rows (throughput, and latency at the first rate) with BENCH_COMPARE_CONSUMER=1. */
const otherMode: ConsumerMode | undefined = process.env['BENCH_COMPARE_CONSUMER'] !== '1' ? undefined : consumerMode === 'child' ? 'inline' : 'child';
/** The consumer without group commit, every message in a transaction of its own (extra rows unless BENCH_COMPARE_BATCH=0). */
const unbatched: ConsumerMode | undefined = process.env['BENCH_COMPARE_BATCH'] === '0' ? undefined : 'unbatched';
const bothModes: ConsumerMode[] = [consumerMode, ...(otherMode ? [otherMode] : []), ...(unbatched ? [unbatched] : [])];
const WINDOW = 100;
const WARM_UP_MS = 1_000;

const log = (message: string) => process.stderr.write(`bench: ${new Date().toISOString().slice(11, 19)} ${message}\n`);
const outbox = new Outbox('identity', [NAME]);
const suffix = randomUUID().slice(0, 8);

// ---------- CPU accounting (/proc, clock ticks of 10 ms) ----------

interface CpuProbe {
  /**
   * CPU milliseconds by process since the probe started: Node (this process and the consumer
   * child processes), PostgreSQL (postmaster + backends), nats-server; and the share of that time
   * this process's event loop was busy (`consumerElu`: the consumer child's, filled in later).
   */
  stop(): { node: number; postgres: number; nats: number; elu: number; consumerElu?: number };
}

let postmasterPid = 0;
let natsPid = 0;
const consumerPids = new Set<number>();

function cpuProbe(): CpuProbe {
  const node = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const pgBefore = new Map([postmasterPid, ...childrenOf(postmasterPid)].map((pid) => [pid, ticks(pid)]));
  const natsBefore = natsPid ? ticks(natsPid) : 0;
  const childBefore = new Map([...consumerPids].map((pid) => [pid, ticks(pid)]));
  return {
    stop() {
      const used = process.cpuUsage(node);
      let children = 0;
      for (const pid of consumerPids) children += ticks(pid) - (childBefore.get(pid) ?? 0);
      let postgres = 0;
      // Backends opened during the phase count from 0; those closed during it are lost (pools keep theirs open).
      for (const pid of [postmasterPid, ...childrenOf(postmasterPid)]) postgres += ticks(pid) - (pgBefore.get(pid) ?? 0);
      const elu = performance.eventLoopUtilization(loop).utilization;
      return { node: (used.user + used.system) / 1000 + children * 10, postgres: postgres * 10, nats: natsPid ? (ticks(natsPid) - natsBefore) * 10 : 0, elu };
    },
  };
}

type Cpu = ReturnType<CpuProbe['stop']>;

const perMessage = (cpu: Cpu, count: number): Cpu => ({ ...cpu, node: (cpu.node * 1000) / count, postgres: (cpu.postgres * 1000) / count, nats: (cpu.nats * 1000) / count });

// ---------- databases ----------

const registered = (): Registered => {
  const userId = randomUUID();
  return { userId, email: `u${userId.slice(0, 8)}@example.com`, name: 'Ada Lovelace', registeredAt: new Date().toISOString() };
};

async function serviceDatabase(adminUrl: string, name: string, max: number): Promise<Database> {
  await createDatabaseIfMissing(adminUrl, name);
  const db = new Database({ connectionString: databaseUrl(adminUrl, name), applicationName: `bench-${name}`, max });
  await migrate(db, MESSAGING_MIGRATIONS, { namespace: 'messaging' });
  await db.query(`
    CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY, email text NOT NULL, name text NOT NULL, registered_at timestamptz NOT NULL);
    CREATE TABLE IF NOT EXISTS effects (message_id uuid NOT NULL, user_id uuid NOT NULL, handled_at timestamptz NOT NULL DEFAULT now());`);
  return db;
}

async function truncateService(db: Database): Promise<void> {
  await db.query('TRUNCATE outbox, inbox, dead_letters, users, effects');
}

/** One state change and its event, in one transaction; resolves after COMMIT with the message id. */
async function writeOne(db: Database): Promise<string> {
  const data = registered();
  const envelope = outbox.envelope(NAME, data, { key: data.userId });
  await db.transaction(async (tx) => {
    await tx.query('INSERT INTO users (id, email, name, registered_at) VALUES ($1, $2, $3, $4)', [data.userId, data.email, data.name, data.registeredAt]);
    await outbox.insert(tx, [envelope]);
  });
  return envelope.id;
}

// ---------- raw PostgreSQL ----------

async function rawPostgres(db: Database, clients: number): Promise<{ rate: number; cpu: Cpu }> {
  await truncateService(db);
  await checkpoint();
  const probe = cpuProbe();
  const started = performance.now();
  const end = started + rawSeconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        await writeOne(db);
        count += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: count / elapsed, cpu: perMessage(probe.stop(), count) };
}

// ---------- raw JetStream ----------

interface RawJetStream {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subject: string;
  payload: string;
}

async function openRawJetStream(): Promise<RawJetStream> {
  const nc = await connect({ servers: natsUrl, name: 'bench-raw' });
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_RAW_${suffix.toUpperCase()}`;
  await jsm.streams.add({ name: stream, subjects: [`benchraw.${suffix}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: nanos(120_000) });
  const data = registered();
  // The same bytes the pipeline puts on the wire: an encoded envelope of the contract message.
  const payload = JSON.stringify(outbox.envelope(NAME, data, { key: data.userId }));
  return { nc, js: jetstream(nc), jsm, stream, subject: `benchraw.${suffix}.identity.0.${NAME}`, payload };
}

/** Acked publishes for rawSeconds by `lanes` lanes, each awaiting its PubAck before the next (1 = serial). */
async function rawPublish(raw: RawJetStream, lanes: number): Promise<{ rate: number; count: number; cpu: Cpu }> {
  const probe = cpuProbe();
  const started = performance.now();
  const end = started + rawSeconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < end) {
        // Nats-Msg-Id as the adapter sets it, so the server does the same de-duplication work.
        await raw.js.publish(raw.subject, raw.payload, { msgID: randomUUID() });
        count += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: count / elapsed, count, cpu: perMessage(probe.stop(), count) };
}

/** A durable pull consumer reading (and acking) all `total` messages of the stream. */
async function rawConsumeAll(raw: RawJetStream, total: number): Promise<{ rate: number; cpu: Cpu }> {
  const durable = `all_${randomUUID().slice(0, 8)}`;
  await raw.jsm.consumers.add(raw.stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1_000 });
  const consumer = await raw.js.consumers.get(raw.stream, durable);
  const probe = cpuProbe();
  const started = performance.now();
  const messages = await consumer.consume({ max_messages: 500 });
  let count = 0;
  for await (const message of messages) {
    message.ack();
    count += 1;
    if (count >= total) break;
  }
  await messages.close().catch(() => {});
  await raw.nc.flush();
  const elapsed = (performance.now() - started) / 1000;
  const cpu = perMessage(probe.stop(), count);
  await raw.jsm.consumers.delete(raw.stream, durable);
  return { rate: count / elapsed, cpu };
}

/**
 * One message at a time for rawSeconds: fetch 1, ack, fetch the next — the NATS adapter's loop per
 * partition (a pull request of one message, a plain ack), without a handler. The durable has
 * max_ack_pending 1 like the adapter's, so the next message comes only once the ack is in.
 */
async function rawConsumeOneByOne(raw: RawJetStream): Promise<{ rate: number; cpu: Cpu }> {
  const durable = `one_${randomUUID().slice(0, 8)}`;
  await raw.jsm.consumers.add(raw.stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1 });
  const consumer = await raw.js.consumers.get(raw.stream, durable);
  const probe = cpuProbe();
  const started = performance.now();
  const end = started + rawSeconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    const pull = await consumer.fetch({ max_messages: 1, expires: 5_000 });
    for await (const message of pull) {
      message.ack();
      count += 1;
    }
  }
  await raw.nc.flush();
  const elapsed = (performance.now() - started) / 1000;
  const cpu = perMessage(probe.stop(), count);
  await raw.jsm.consumers.delete(raw.stream, durable);
  return { rate: count / elapsed, cpu };
}

/**
 * One message at a time for rawSeconds through one long-lived pull (`consume()`) on a durable with
 * max_ack_pending 1: the server sends the next message once the previous one is acked, without a
 * pull request per message. Same ordering guarantee as the adapter's loop, for comparison.
 */
async function rawConsumeOneByOneLongLived(raw: RawJetStream): Promise<{ rate: number; cpu: Cpu }> {
  const durable = `long_${randomUUID().slice(0, 8)}`;
  await raw.jsm.consumers.add(raw.stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1 });
  const consumer = await raw.js.consumers.get(raw.stream, durable);
  const probe = cpuProbe();
  const started = performance.now();
  const end = started + rawSeconds * 1000;
  let count = 0;
  const messages = await consumer.consume({ max_messages: 100 });
  for await (const message of messages) {
    message.ack();
    count += 1;
    if (performance.now() >= end) break;
  }
  await messages.close().catch(() => {});
  await raw.nc.flush();
  const elapsed = (performance.now() - started) / 1000;
  const cpu = perMessage(probe.stop(), count);
  await raw.jsm.consumers.delete(raw.stream, durable);
  return { rate: count / elapsed, cpu };
}

// ---------- the pipeline ----------

interface Adapter {
  name: string;
  /** The service's database: relay (and the inline consumer), as in a service process. */
  db: Database;
  databaseUrl: string;
  /** The request side's pool to the same database: the writer. */
  writerDb: Database;
  brokerConfig: BrokerConfig;
  /** Separate clients, as separate processes would have. */
  publisher: Broker;
  subscriber: Broker;
  /** The pipeline's consumer, in this process and/or in a child process. */
  hosts: Partial<Record<ConsumerMode, ConsumerHost>>;
  reset(): Promise<void>;
}

/** Runs the bench consumer; `settled` gets each handled message id and its times (this process's performance clock). */
interface ConsumerHost {
  start(settled: Settled): Promise<void>;
  /** Resolves with the consumer's event-loop utilisation when it ran in a child process. */
  stop(): Promise<number | undefined>;
  close(): Promise<void>;
}

function inlineConsumer(db: Database, subscriber: Broker, batchSize?: number): ConsumerHost {
  let consumer: ReturnType<typeof benchConsumer> | undefined;
  return {
    async start(settled) {
      consumer = benchConsumer(db, subscriber, settled, batchSize);
      await consumer.start();
    },
    async stop() {
      await consumer?.stop();
      consumer = undefined;
      return undefined;
    },
    async close() {},
  };
}

const consumerEntry = fileURLToPath(new URL('./consumer.ts', import.meta.url));

async function childConsumer(databaseUrl: string, broker: BrokerConfig): Promise<ConsumerHost> {
  const child: ChildProcess = spawn(process.execPath, [consumerEntry], {
    env: { ...process.env, BENCH_CONSUMER_CONFIG: JSON.stringify({ databaseUrl, broker }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let settled: Settled | undefined;
  let shift = 0;
  const waiting = new Map<string, (message: FromConsumer) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message: FromConsumer) => {
    if (message.type === 'settled') {
      for (let i = 0; i < message.ids.length; i += 1) settled?.(message.ids[i]!, message.delivered[i]! + shift, message.at[i]! + shift);
      return;
    }
    if (message.type === 'ready') shift = message.timeOrigin - performance.timeOrigin; // child clock → ours
    waiting.get(message.type)?.(message);
    waiting.delete(message.type);
  });
  const request = (message: ToConsumer | undefined, reply: FromConsumer['type']) =>
    new Promise<FromConsumer>((resolve, reject) => {
      waiting.set(reply, resolve);
      void exited.then(() => reject(new Error(`the consumer process exited (waiting for "${reply}")`)));
      if (message) child.send(message);
    });
  await request(undefined, 'ready');
  consumerPids.add(child.pid!);
  return {
    async start(callback) {
      settled = callback;
      await request({ type: 'start' }, 'started');
    },
    async stop() {
      const stopped = await request({ type: 'stop' }, 'stopped');
      settled = undefined;
      return stopped.type === 'stopped' ? stopped.elu : undefined;
    },
    async close() {
      consumerPids.delete(child.pid!);
      if (child.exitCode === null) child.send({ type: 'exit' } satisfies ToConsumer);
      await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

async function startPipeline(
  adapter: Adapter,
  mode: ConsumerMode,
  settled: Settled,
  published?: (ids: string[], at: number) => void,
): Promise<{ relay: OutboxRelay; stop: () => Promise<number | undefined>; startRelay: () => Promise<void> }> {
  const consumer = adapter.hosts[mode]!;
  await consumer.start(settled);
  const inner = adapter.publisher;
  // The relay's broker, recording when each publish call resolved (the broker acknowledged the messages).
  const broker: Broker = published
    ? {
        kind: inner.kind,
        declare: (flows) => inner.declare(flows),
        publish: async (messages) => {
          await inner.publish(messages);
          published(
            messages.map((m) => m.id),
            performance.now(),
          );
        },
        subscribe: (group, handler, options) => inner.subscribe(group, handler, options),
        ping: () => inner.ping(),
        listen: (names, onNotice, options) => inner.listen(names, onNotice, options),
        close: () => inner.close(),
      }
    : inner;
  const relay = new OutboxRelay({ db: adapter.db, broker, log: quiet, name: `bench-relay-${adapter.name}` });
  return {
    relay,
    startRelay: () => relay.start(),
    stop: async () => {
      await relay.stop();
      return consumer.stop();
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

interface ThroughputSample {
  relayRate: number;
  endToEndRate: number;
  cpu: Cpu;
}

/** Preloads `preload` messages (distinct keys) into the outbox, then starts consumer and relay and times both. */
async function throughput(adapter: Adapter, mode: ConsumerMode): Promise<ThroughputSample> {
  await adapter.reset();
  const ids = new Set<string>();
  for (let done = 0; done < preload; done += 500) {
    const envelopes = Array.from({ length: Math.min(500, preload - done) }, () => {
      const data = registered();
      return outbox.envelope(NAME, data, { key: data.userId });
    });
    for (const e of envelopes) ids.add(e.id);
    await adapter.db.transaction((tx) => outbox.insert(tx, envelopes));
  }
  await checkpoint();
  const handled = new Set<string>();
  let lastHandled = 0;
  const pipeline = await startPipeline(adapter, mode, (id, _delivered, at) => {
    if (ids.has(id) && !handled.has(id)) {
      handled.add(id);
      lastHandled = at;
    }
  });
  const probe = cpuProbe();
  const started = performance.now();
  await pipeline.startRelay();
  await waitFor(() => pipeline.relay.published >= preload, 300_000, `${adapter.name}: relay`);
  const relayDone = performance.now();
  await waitFor(() => handled.size >= preload, 300_000, `${adapter.name}: consumer`);
  const cpu = perMessage(probe.stop(), preload);
  const consumerElu = await pipeline.stop();
  if (consumerElu !== undefined) cpu.consumerElu = consumerElu;
  return { relayRate: preload / ((relayDone - started) / 1000), endToEndRate: preload / ((lastHandled - started) / 1000), cpu };
}

/**
 * Profiling: the broker adapter alone. `preload` envelopes published straight to the broker
 * (no outbox), then a subscriber (concurrency 8) that only acks — no consumer, no inbox
 * transaction. Timed from the subscribe call to the last ack.
 */
async function deliveryAlone(adapter: Adapter): Promise<{ rate: number; cpu: Cpu }> {
  await adapter.reset();
  const envelopes = Array.from({ length: preload }, () => {
    const data = registered();
    return outbox.envelope(NAME, data, { key: data.userId });
  });
  const ids = new Set(envelopes.map((e) => e.id));
  for (let done = 0; done < envelopes.length; done += 256) await adapter.publisher.publish(envelopes.slice(done, done + 256));
  await checkpoint();
  const seen = new Set<string>();
  let last = 0;
  const probe = cpuProbe();
  const started = performance.now();
  const subscription = await adapter.subscriber.subscribe(
    GROUP,
    async (delivery) => {
      await delivery.ack();
      const id = (delivery.message as Partial<Envelope> | undefined)?.id;
      if (typeof id === 'string' && ids.has(id) && !seen.has(id)) {
        seen.add(id);
        last = performance.now();
      }
    },
    { concurrency: CONSUMER_CONCURRENCY },
  );
  await waitFor(() => seen.size >= preload, 300_000, `${adapter.name}: delivery`);
  const cpu = perMessage(probe.stop(), preload);
  await subscription.close();
  return { rate: preload / ((last - started) / 1000), cpu };
}

interface LatencySample {
  written: number;
  writeRate: number;
  handledRate: number;
  p50: number;
  p99: number;
  max: number;
  measured: number;
  /** Median time per hop: writer COMMIT → relay's publish acknowledged → delivered to the consumer → handled. */
  stageP50: { relay: number; broker: number; consumer: number };
  cpu: Cpu;
}

/**
 * A writer commits one message per transaction at `rate`/s for `seconds` s on a steady
 * schedule (open loop: a write is started at its scheduled instant whether or not the
 * previous ones finished). Latency: from the writer's COMMIT resolved to the consumer's
 * transaction committed and the delivery acked. The first second is warm-up.
 */
async function latency(adapter: Adapter, rate: number, mode: ConsumerMode): Promise<LatencySample> {
  await adapter.reset();
  await checkpoint();
  // Per message id: the writer's side (COMMIT resolved, scheduled instant), the relay's (publish
  // acknowledged), the consumer's (delivered, handled); a message is counted once writer and consumer both reported.
  const writes = new Map<string, { t0: number; scheduled: number }>();
  const handledBy = new Map<string, { delivered: number; t1: number }>();
  const publishedAt = new Map<string, number>();
  const latencies: number[] = [];
  const stages = { relay: [] as number[], broker: [] as number[], consumer: [] as number[] };
  let handled = 0;
  let lastHandled = 0;
  let start = Number.POSITIVE_INFINITY;
  const complete = (id: string) => {
    const write = writes.get(id);
    const consumed = handledBy.get(id);
    if (!write || !consumed) return;
    writes.delete(id);
    handledBy.delete(id);
    handled += 1;
    lastHandled = Math.max(lastHandled, consumed.t1);
    if (write.scheduled < start + WARM_UP_MS) return;
    latencies.push(consumed.t1 - write.t0);
    const published = publishedAt.get(id);
    if (published !== undefined) {
      stages.relay.push(published - write.t0);
      stages.broker.push(consumed.delivered - published);
    }
    stages.consumer.push(consumed.t1 - consumed.delivered);
  };
  const pipeline = await startPipeline(
    adapter,
    mode,
    (id, delivered, t1) => {
      handledBy.set(id, { delivered, t1 });
      complete(id);
    },
    (ids, at) => {
      for (const id of ids) publishedAt.set(id, at);
    },
  );
  await pipeline.startRelay();
  await sleep(300);
  const total = Math.round(rate * seconds);
  const pending: Promise<void>[] = [];
  const probe = cpuProbe();
  start = performance.now();
  let sent = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      while (sent < due) {
        const scheduled = start + (sent * 1000) / rate;
        sent += 1;
        pending.push(
          writeOne(adapter.writerDb).then(
            (id) => {
              writes.set(id, { t0: performance.now(), scheduled });
              complete(id);
            },
            () => {
              failed += 1;
            },
          ),
        );
      }
      if (sent >= total) return resolve();
      setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  const writerElapsed = (performance.now() - start) / 1000;
  const written = total - failed;
  await waitFor(() => handled >= written, 120_000, `${adapter.name} at ${rate}/s: consumer`);
  const cpu = perMessage(probe.stop(), written);
  const consumerElu = await pipeline.stop();
  if (consumerElu !== undefined) cpu.consumerElu = consumerElu;
  const quantile = (values: number[], q: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  };
  return {
    written,
    writeRate: written / writerElapsed,
    handledRate: handled / ((lastHandled - start) / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: Math.max(...latencies),
    measured: latencies.length,
    stageP50: { relay: quantile(stages.relay, 0.5), broker: quantile(stages.broker, 0.5), consumer: quantile(stages.consumer, 0.5) },
    cpu,
  };
}

// ---------- report ----------

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '—');
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '—');
const range = (values: number[], format: (n: number) => string) => `${format(Math.min(...values))}–${format(Math.max(...values))}`;
const cpuCell = (cpus: Cpu[]) => `${int(median(cpus.map((c) => c.node)))} / ${int(median(cpus.map((c) => c.postgres)))} / ${int(median(cpus.map((c) => c.nats)))}`;
const eluCell = (cpus: Cpu[]) => {
  const main = `${Math.round(median(cpus.map((c) => c.elu)) * 100)} %`;
  const children = cpus.map((c) => c.consumerElu).filter((e) => e !== undefined);
  return children.length ? `${main} / ${Math.round(median(children) * 100)} %` : main;
};

let admin: Database | undefined;
async function checkpoint(): Promise<void> {
  // Flush dirty pages before each phase, so a checkpoint is less likely to land inside one.
  await admin?.query('CHECKPOINT');
  await sleep(200);
}

// ---------- main ----------

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bazaar-bench-events-'));
  const closers: (() => Promise<unknown>)[] = [];
  let postgres: RunningPostgres | undefined;
  const report: string[] = [];
  const loadBefore = loadavg()[0]!;
  // The code measured is what was loaded now: the commit, and whether packages/ differed from it.
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD']).stdout.toString().trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'packages']).stdout.toString().trim() !== '';
  const ticksBefore = machineTicks();
  const began = Date.now();
  try {
    log('starting embedded PostgreSQL');
    postgres = await startEmbeddedPostgres({ stateDir: join(work, 'state'), preferredPort: 0 });
    postmasterPid = postmasterPidOf(postgres.dataDir);
    natsPid = Number(spawnSync('pgrep', ['-x', 'nats-server']).stdout.toString().trim().split('\n')[0] ?? 0);
    admin = new Database({ connectionString: postgres.adminUrl, applicationName: 'bench-admin', max: 2 });
    closers.push(() => admin!.close());
    const postgresVersion = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;

    const rawDb = await serviceDatabase(postgres.adminUrl, 'bench_raw', 16);
    closers.push(() => rawDb.close());
    const raw = await openRawJetStream();
    closers.push(async () => {
      await raw.jsm.streams.delete(raw.stream).catch(() => {});
      await raw.nc.close();
    });
    const natsVersion = raw.nc.info?.version ?? '?';

    // Adapters.
    const adapters: Adapter[] = [];
    const brokerUrl = databaseUrl(postgres.adminUrl, 'bench_broker');
    await createDatabaseIfMissing(postgres.adminUrl, 'bench_broker');
    /** `closers` run in reverse: the consumer first, then the broker clients, then the pools. */
    async function adapter(name: string, dbName: string, brokerConfig: BrokerConfig, resetBroker: () => Promise<void>, modes: ConsumerMode[]): Promise<Adapter> {
      const db = await serviceDatabase(postgres!.adminUrl, dbName, 10);
      const url = databaseUrl(postgres!.adminUrl, dbName);
      const writerDb = new Database({ connectionString: url, applicationName: `bench-writer-${name}`, max: 16 });
      closers.push(() => db.close(), () => writerDb.close());
      const publisher = makeBroker(brokerConfig, 'relay');
      const subscriber = makeBroker(brokerConfig, 'consumer');
      closers.push(() => publisher.close(), () => subscriber.close());
      await publisher.declare(FLOWS);
      await subscriber.declare(FLOWS);
      const hosts: Adapter['hosts'] = {};
      if (modes.includes('inline')) hosts.inline = inlineConsumer(db, subscriber);
      if (modes.includes('unbatched')) hosts.unbatched = inlineConsumer(db, subscriber, 1);
      if (modes.includes('child')) {
        const child = await childConsumer(url, brokerConfig);
        hosts.child = child;
        closers.push(() => child.close());
      }
      return {
        name,
        db,
        databaseUrl: url,
        writerDb,
        brokerConfig,
        publisher,
        subscriber,
        hosts,
        reset: async () => {
          await truncateService(db);
          await resetBroker();
        },
      };
    }
    const brokerAdmin = new Database({ connectionString: brokerUrl, applicationName: 'bench-broker-admin', max: 1 });
    closers.push(() => brokerAdmin.close());
    const embedded = await adapter(
      'embedded',
      'bench_svc_embedded',
      { kind: 'embedded', url: brokerUrl },
      async () => {
        await brokerAdmin.query('TRUNCATE broker_deliveries, broker_messages');
      },
      bothModes,
    );
    adapters.push(embedded);
    const natsAdapter = async (name: string, dbName: string, prefix: string, modes: ConsumerMode[], partitions?: number) => {
      closers.push(async () => {
        const cleanup = new NatsBroker(natsUrl, { prefix, ...(partitions ? { partitions } : {}) });
        await cleanup.deleteStreams().finally(() => cleanup.close());
      });
      return adapter(name, dbName, { kind: 'nats', url: natsUrl, prefix, ...(partitions ? { partitions } : {}) }, async () => {}, modes);
    };
    const nats = await natsAdapter('nats', 'bench_svc_nats', `bench${suffix}`, bothModes);
    adapters.push(nats);
    const natsExtra = extraPartitions > 0 ? await natsAdapter(`nats-p${extraPartitions}`, 'bench_svc_nats_extra', `bench${suffix}x`, [consumerMode], extraPartitions) : undefined;

    // Warm-up: JIT, pools, durables, caches.
    log('warm-up');
    await rawPostgres(rawDb, 4);
    await rawPublish(raw, 1);
    for (const a of [embedded, nats]) for (const mode of bothModes) await latency(a, 200, mode);

    const samples = {
      pgSerial: [] as { rate: number; cpu: Cpu }[],
      pgParallel: [] as { rate: number; cpu: Cpu }[],
      jsSerial: [] as { rate: number; cpu: Cpu }[],
      jsWindow: [] as { rate: number; cpu: Cpu }[],
      /** Per round: the mean of the raw publish rates measured before and after the NATS pipeline phases. */
      jsBracket: [] as { serial: number; windowed: number }[],
      jsConsume: [] as { rate: number; cpu: Cpu }[],
      jsOneByOne: [] as { rate: number; cpu: Cpu }[],
      jsOneByOneLong: [] as { rate: number; cpu: Cpu }[],
      throughput: new Map<string, ThroughputSample[]>(),
      delivery: new Map<string, { rate: number; cpu: Cpu }[]>(),
      latency: new Map<string, LatencySample[]>(),
    };
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);

    for (let round = 1; round <= rounds; round += 1) {
      const step = (what: string) => log(`round ${round}/${rounds}: ${what}`);
      step('raw PostgreSQL, 1 client');
      samples.pgSerial.push(await rawPostgres(rawDb, 1));
      step('raw PostgreSQL, 16 clients');
      samples.pgParallel.push(await rawPostgres(rawDb, 16));

      // The raw publish rates are measured right before and right after the NATS pipeline's
      // throughput phases, and the bar's ratio uses their mean: the machine's speed drifts.
      await raw.jsm.streams.purge(raw.stream);
      let published = 0;
      const rawPublishes = async (when: string) => {
        step(`raw JetStream publish, serial (${when})`);
        const serial = await rawPublish(raw, 1);
        step(`raw JetStream publish, ${WINDOW} in flight (${when})`);
        const windowed = await rawPublish(raw, WINDOW);
        samples.jsSerial.push(serial);
        samples.jsWindow.push(windowed);
        published += serial.count + windowed.count;
        return { serial: serial.rate, windowed: windowed.rate };
      };
      const pipelineThroughput = async (a: Adapter) => {
        for (const mode of bothModes) {
          if (!a.hosts[mode]) continue;
          step(`pipeline throughput, ${a.name}, consumer ${mode}`);
          const sample = await throughput(a, mode);
          log(`  relay ${int(sample.relayRate)}/s, end-to-end ${int(sample.endToEndRate)}/s`);
          push(samples.throughput, `${a.name}|${mode}`, sample);
        }
      };
      const before = await rawPublishes('before');
      for (const a of [nats, ...(natsExtra ? [natsExtra] : [])]) await pipelineThroughput(a);
      const after = await rawPublishes('after');
      samples.jsBracket.push({ serial: (before.serial + after.serial) / 2, windowed: (before.windowed + after.windowed) / 2 });
      await pipelineThroughput(embedded);

      step('raw JetStream consume');
      samples.jsConsume.push(await rawConsumeAll(raw, published));
      step('raw JetStream consume, one at a time');
      samples.jsOneByOne.push(await rawConsumeOneByOne(raw));
      step('raw JetStream consume, one at a time, long-lived pull');
      samples.jsOneByOneLong.push(await rawConsumeOneByOneLongLived(raw));

      for (const a of [embedded, nats, ...(natsExtra ? [natsExtra] : [])]) {
        step(`profiling: broker delivery alone, ${a.name}`);
        const sample = await deliveryAlone(a);
        log(`  ${int(sample.rate)}/s`);
        push(samples.delivery, a.name, sample);
      }
      for (const rate of rates) {
        // The extra partitions row below the highest rate (which saturates every variant on a small machine).
        for (const a of [...adapters, ...(natsExtra && rate < Math.max(...rates) ? [natsExtra] : [])]) {
          // The other placement of the consumer only at the first rate.
          for (const mode of rate === rates[0] && a !== natsExtra ? bothModes : [consumerMode]) {
            step(`latency, ${a.name} at ${rate}/s, consumer ${mode}`);
            const sample = await latency(a, rate, mode);
            const { relay, broker, consumer } = sample.stageP50;
            log(`  p50 ${ms(sample.p50)} ms (${ms(relay)} + ${ms(broker)} + ${ms(consumer)}), p99 ${ms(sample.p99)} ms, written ${int(sample.writeRate)}/s, handled ${int(sample.handledRate)}/s`);
            push(samples.latency, `${a.name}|${mode}@${rate}`, sample);
          }
        }
      }
    }

    // ---------- tables ----------
    const pipelineLoop = 'event loop busy: main (/ consumer process)';
    const placement = (mode: ConsumerMode) =>
      mode === 'child' ? 'consumer in a child process' : mode === 'unbatched' ? 'one transaction per message (no group commit)' : 'consumer in the relay\'s process';
    /** Rows in the default placement first, then the other placement's (comparison) rows. */
    const keysInOrder = <T>(map: Map<string, T>) => [...map.keys()].sort((a, b) => Number(!a.includes(`|${consumerMode}`)) - Number(!b.includes(`|${consumerMode}`)));
    const rawRow = (label: string, unit: string, s: { rate: number; cpu: Cpu }[]) =>
      `| ${label} | ${int(median(s.map((x) => x.rate)))} ${unit}${s.length === rounds ? '' : ` (median of ${s.length})`} | ${range(s.map((x) => x.rate), int)} | ${cpuCell(s.map((x) => x.cpu))} | ${eluCell(s.map((x) => x.cpu))} |`;
    const adapterLabel = (name: string) =>
      name === 'embedded' ? 'embedded (PostgreSQL broker)' : name === 'nats' ? `NATS JetStream (default: ${MESSAGE_PARTITIONS} partitions)` : `NATS JetStream, ${extraPartitions} partitions (extra row, not the default)`;
    const pipelineLabel = (key: string) => {
      const [name, mode] = key.split('|') as [string, ConsumerMode];
      return mode === consumerMode ? adapterLabel(name) : `${adapterLabel(name)} — comparison: ${placement(mode)}`;
    };
    report.push(
      [
        '#### Raw limits',
        '',
        `| measure | rate (median of ${rounds}) | range over rounds | CPU µs per message: node / postgres / nats-server | node event loop busy |`,
        '|---|---:|---:|---:|---:|',
        rawRow('PostgreSQL: state change + outbox transaction, 1 client', 'tx/s', samples.pgSerial),
        rawRow('PostgreSQL: state change + outbox transaction, 16 clients', 'tx/s', samples.pgParallel),
        rawRow('JetStream: acked publish, serial (await each PubAck); before and after the NATS pipeline phases', 'msg/s', samples.jsSerial),
        rawRow(`JetStream: acked publish, ${WINDOW} in flight; before and after the NATS pipeline phases`, 'msg/s', samples.jsWindow),
        rawRow('JetStream: consume all published (pull, batches of 500, ack)', 'msg/s', samples.jsConsume),
        rawRow('JetStream: consume one at a time, max_ack_pending 1 (fetch 1 → ack → fetch; the adapter\'s loop per partition)', 'msg/s', samples.jsOneByOne),
        rawRow('JetStream: consume one at a time, max_ack_pending 1, through one long-lived pull (consume() → ack; for comparison)', 'msg/s', samples.jsOneByOneLong),
      ].join('\n'),
    );

    const throughputRows = keysInOrder(samples.throughput).map((key) => {
      const s = samples.throughput.get(key)!;
      return `| ${pipelineLabel(key)} | ${int(median(s.map((x) => x.relayRate)))} | ${range(s.map((x) => x.relayRate), int)} | ${int(median(s.map((x) => x.endToEndRate)))} | ${range(s.map((x) => x.endToEndRate), int)} | ${cpuCell(s.map((x) => x.cpu))} | ${eluCell(s.map((x) => x.cpu))} |`;
    });
    report.push(
      [
        `#### Pipeline throughput (${int(preload)} messages preloaded in the outbox, distinct keys; relay + consumer, concurrency ${CONSUMER_CONCURRENCY}; ${placement(consumerMode)})`,
        '',
        `| adapter | relay publish msg/s (median of ${rounds}) | range | end-to-end msg/s (median) | range | CPU µs per message: node / postgres / nats-server | ${pipelineLoop} |`,
        '|---|---:|---:|---:|---:|---:|---:|',
        ...throughputRows,
      ].join('\n'),
    );
    report.push(
      [
        `#### Profiling: broker delivery alone (${int(preload)} messages published straight to the broker, a subscriber that only acks; no consumer, no inbox transaction)`,
        '',
        `| adapter | delivered + acked msg/s (median of ${rounds}) | range | CPU µs per message: node / postgres / nats-server | node event loop busy |`,
        '|---|---:|---:|---:|---:|',
        ...[...samples.delivery.entries()].map(
          ([name, s]) => `| ${adapterLabel(name)} | ${int(median(s.map((x) => x.rate)))} | ${range(s.map((x) => x.rate), int)} | ${cpuCell(s.map((x) => x.cpu))} | ${eluCell(s.map((x) => x.cpu))} |`,
        ),
      ].join('\n'),
    );

    const stagesCell = (s: LatencySample[]) => (['relay', 'broker', 'consumer'] as const).map((hop) => ms(median(s.map((x) => x.stageP50[hop])))).join(' / ');
    const latencyRows: string[] = [];
    for (const key of keysInOrder(samples.latency)) {
      const s = samples.latency.get(key)!;
      const rate = Number(key.split('@')[1]);
      const written = median(s.map((x) => x.writeRate));
      const handled = median(s.map((x) => x.handledRate));
      const kept = written >= 0.95 * rate && handled >= 0.95 * rate ? 'yes' : '**no** (saturated)';
      latencyRows.push(
        `| ${pipelineLabel(key.split('@')[0]!)} | ${rate} | ${int(written)} | ${int(handled)} | ${kept} | ${ms(median(s.map((x) => x.p50)))} | ${range(s.map((x) => x.p50), ms)} | ${ms(median(s.map((x) => x.p99)))} | ${range(s.map((x) => x.p99), ms)} | ${ms(median(s.map((x) => x.max)))} | ${stagesCell(s)} | ${cpuCell(s.map((x) => x.cpu))} | ${eluCell(s.map((x) => x.cpu))} |`,
      );
    }
    report.push(
      [
        `#### Latency at fixed rates: writer COMMIT resolved → consumer transaction committed and delivery acked (${seconds} s per phase, first second dropped; ${placement(consumerMode)})`,
        '',
        `| adapter | target msg/s | written/s | handled/s | rate kept | p50 ms (median of ${rounds}) | p50 range | p99 ms | p99 range | max ms | p50 by hop ms: relay / broker / consumer | CPU µs per message: node / postgres / nats-server | ${pipelineLoop} |`,
        '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...latencyRows,
      ].join('\n'),
    );

    // ---------- bar checks ----------
    const perRound = (f: (i: number) => number) => Array.from({ length: rounds }, (_, i) => f(i));
    const natsE2e = samples.throughput.get(`nats|${consumerMode}`)!;
    const serialOf = (i: number) => samples.jsBracket[i]!.serial;
    const windowedOf = (i: number) => samples.jsBracket[i]!.windowed;
    const vsSerial = perRound((i) => natsE2e[i]!.endToEndRate / serialOf(i));
    const vsWindow = perRound((i) => natsE2e[i]!.endToEndRate / windowedOf(i));
    const relayVsSerial = perRound((i) => natsE2e[i]!.relayRate / serialOf(i));
    const relayVsWindow = perRound((i) => natsE2e[i]!.relayRate / windowedOf(i));
    const ratio = (values: number[]) => `${median(values).toFixed(2)} (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`;
    const lines = [
      '#### Bar checks',
      '',
      `Ratios are taken per round against the mean of the raw publish rates measured right before and right after that round's NATS pipeline phases (per round, serial: ${samples.jsBracket.map((b) => int(b.serial)).join(', ')} msg/s; ${WINDOW} in flight: ${samples.jsBracket.map((b) => int(b.windowed)).join(', ')} msg/s), then the median of the rounds.`,
      '',
    ];
    const embedded200 = samples.latency.get(`embedded|${consumerMode}@200`);
    if (embedded200) {
      const p50 = median(embedded200.map((x) => x.p50));
      lines.push(`- Embedded adapter p50 at 200 events/s < 10 ms: **${ms(p50)} ms → ${p50 < 10 ? 'met' : 'NOT met'}** (rounds: ${embedded200.map((x) => ms(x.p50)).join(', ')} ms).`);
    }
    const e2eMet = median(vsSerial) >= 0.5;
    lines.push(
      `- NATS pipeline ≥ 50 % of the raw JetStream acked-publish rate. The bar is checked against the **serial** acked publish (one message, its PubAck, the next): **end-to-end / serial = ${ratio(vsSerial)} → ${e2eMet ? 'met' : 'NOT met'}**.`,
      `- Against the raw publish with ${WINDOW} in flight (the client's best, reported alongside; not the bar): end-to-end / windowed = ${ratio(vsWindow)} → ${median(vsWindow) >= 0.5 ? '≥' : '<'} 0.5.`,
      `- Relay alone (outbox → JetStream): relay / serial = ${ratio(relayVsSerial)}; relay / windowed = ${ratio(relayVsWindow)}.`,
    );
    const extra = natsExtra && samples.throughput.get(`${natsExtra.name}|${consumerMode}`);
    if (extra) {
      const extraVsSerial = perRound((i) => extra[i]!.endToEndRate / serialOf(i));
      const extraVsWindow = perRound((i) => extra[i]!.endToEndRate / windowedOf(i));
      lines.push(`- Extra row, NATS with ${extraPartitions} partitions (not the default): end-to-end / serial = ${ratio(extraVsSerial)}; / windowed = ${ratio(extraVsWindow)}.`);
    }
    for (const mode of bothModes.filter((m) => m !== consumerMode)) {
      const other = samples.throughput.get(`nats|${mode}`);
      if (other) {
        const otherVsSerial = perRound((i) => other[i]!.endToEndRate / serialOf(i));
        lines.push(`- Comparison, NATS with ${placement(mode)}: end-to-end / serial = ${ratio(otherVsSerial)}.`);
      }
      const otherEmbedded = samples.latency.get(`embedded|${mode}@200`);
      if (otherEmbedded) lines.push(`- Comparison, embedded p50 at 200/s with ${placement(mode)}: ${ms(median(otherEmbedded.map((x) => x.p50)))} ms (rounds: ${otherEmbedded.map((x) => ms(x.p50)).join(', ')} ms).`);
    }
    report.push(lines.join('\n'));

    const natsCli = spawnSync('nats-server', ['--version']).stdout?.toString().trim() || `nats-server v${natsVersion} (from the server's INFO)`;
    const minutes = Math.round((Date.now() - began) / 60_000);
    const ticksAfter = machineTicks();
    const share = (key: 'idle' | 'steal') => `${Math.round((100 * (ticksAfter[key] - ticksBefore[key])) / (ticksAfter.total - ticksBefore.total))} %`;
    const header = [
      `Run: \`npm run bench:events\` (BENCH_ROUNDS=${rounds}, BENCH_SECONDS=${seconds}, BENCH_RAW_SECONDS=${rawSeconds}, BENCH_MESSAGES=${preload}, BENCH_RATES=${rates.join(',')}, BENCH_EXTRA_PARTITIONS=${extraPartitions}, BENCH_CONSUMER=${consumerMode}), ${new Date().toISOString().slice(0, 16)}Z, commit ${commit}${dirty ? ' (packages/ with uncommitted changes)' : ''}`,
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, PostgreSQL ${postgresVersion} (embedded, default settings: synchronous_commit on), ${natsCli} (JetStream, file storage); ${consumerMode === 'child' ? 'writer and relay in one Node process, the consumer in a child process (BENCH_CONSUMER=child)' : 'writer, relay and consumer in one Node process (BENCH_CONSUMER=inline)'}, sharing the cores with PostgreSQL and nats-server. Load average (1 min) ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; over the run the machine's CPU time was ${share('idle')} idle and ${share('steal')} stolen by the hypervisor; the run took ${minutes} min.`,
      '',
    ];
    process.stdout.write([...header, ...report.flatMap((r) => [r, ''])].join('\n') + '\n');
  } finally {
    for (const close of closers.reverse()) await close().catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
    await postgres?.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  },
);
