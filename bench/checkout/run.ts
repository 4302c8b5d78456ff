/**
 * npm run bench:checkout — one checkout, two ways, side by side in one run:
 *
 *   monolith  one PostgreSQL transaction in one database: stock per line, order CONFIRMED,
 *             payment CAPTURED, shipment booked (the floor; bench/checkout/monolith.ts)
 *   saga      the running system (`npm start`'s launcher, every service its own process):
 *             POST /api/orders through the gateway, then the order's event stream until
 *             CONFIRMED (orders → catalog, payments, shipping over the broker)
 *
 * Each gets the same load: a warm-up; closed loops (N clients back to back: the uncontended
 * latency at 1 client, the throughput at more); open-loop arrivals at fixed rates
 * (checkout-to-confirmed p50/p95/p99, achieved rate, errors); and a cost phase at one rate,
 * bracketed by quiet periods, for commits, messages and CPU per checkout per process.
 * Both share the machine's cores with this process (the load generator). Prints markdown.
 *
 *   node bench/checkout/run.ts                                   embedded broker (default)
 *   node bench/checkout/run.ts --broker nats://127.0.0.1:4222    NATS JetStream (a unique prefix per run)
 *   node bench/checkout/run.ts --wait poll                       poll GET /api/orders/:id every 5 ms instead of SSE
 *   node bench/checkout/run.ts --monolith-only                   the floor alone (checks the harness)
 *
 * Options (env): BENCH_SECONDS per measured phase (15), BENCH_WARMUP_SECONDS unmeasured start of
 * each phase (3), BENCH_RATES (10,50,100,150), BENCH_CONCURRENCY closed-loop clients (1,16,64),
 * BENCH_COST_RATE (50), BENCH_PRODUCTS (10; each checkout buys 1 of 2 distinct ones),
 * BENCH_CUSTOMERS (16), BENCH_TIMEOUT_MS per checkout (30000), BENCH_MAX_IN_FLIGHT (1000), BENCH_ALL_RATES (0: after a rate
 * where fewer than half the checkouts/s confirm, the higher rates are not run; 1: run them all).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Database, NatsBroker, createDatabaseIfMissing, databaseUrl } from '@bazaar/chassis';
import { startEmbeddedPostgres } from '@bazaar/runtime/embedded-postgres';
import { freePort } from '@bazaar/runtime/ports';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { childrenOf, commandLine, machineTicks, postmasterPid } from '../proc.ts';
import { serverCounters, cpuBetween, cpuSnapshot, messageCounts, type ProcessMap } from './accounting.ts';
import { closedLoop, openLoop, summarize, type Attempt, type Checkout, type PhaseResult, type PhaseSummary } from './load.ts';
import { basket, createMonolith, monolithCheckout, monolithTotals } from './monolith.ts';
import { closeClients, openShop, sagaCheckout } from './saga.ts';
import { sagaBreakdown } from './timeline.ts';

const { values: flags } = parseArgs({
  options: {
    broker: { type: 'string' },
    wait: { type: 'string', default: 'sse' },
    'monolith-only': { type: 'boolean', default: false },
  },
  strict: true,
});
if (flags.broker && !flags.broker.startsWith('nats://')) throw new Error(`--broker must be nats://host:port (the default is the embedded broker), got ${flags.broker}`);
if (flags.wait !== 'sse' && flags.wait !== 'poll') throw new Error(`--wait must be sse or poll, got ${flags.wait}`);
const wait = flags.wait;

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').map(Number);
const seconds = num('BENCH_SECONDS', 15);
const warmUpSeconds = num('BENCH_WARMUP_SECONDS', 3);
const rates = list('BENCH_RATES', '10,50,100,150');
const concurrencies = list('BENCH_CONCURRENCY', '1,16,64');
const costRate = num('BENCH_COST_RATE', 50);
const productCount = num('BENCH_PRODUCTS', 10);
const customerCount = num('BENCH_CUSTOMERS', 16);
const timeoutMs = num('BENCH_TIMEOUT_MS', 30_000);
const maxInFlight = num('BENCH_MAX_IN_FLIGHT', 1000);
const runAllRates = process.env['BENCH_ALL_RATES'] === '1';
/** pg_stat_database counters reach shared memory within 10 s of a backend going idle (PGSTAT_IDLE_INTERVAL). */
const STATS_FLUSH_MS = 12_000;
const STOCK = 100_000_000;
const DRAIN_LIMIT_MS = 600_000;

const log = (message: string) => process.stderr.write(`bench: ${new Date().toISOString().slice(11, 19)} ${message}\n`);

// ---------- one variant under the whole load ----------

interface Subject {
  name: string;
  checkout: Checkout;
  /** Processes whose CPU is the variant's (the load generator, this process, is added as `bench`). */
  processes: ProcessMap;
  /** Superuser URL of the variant's PostgreSQL server, and the databases whose commits count. */
  adminUrl: string;
  countsCommits: (database: string) => boolean;
  /** Service databases with an outbox (none for the monolith). */
  messageDatabases: Record<string, string>;
  /** Resolves when no checkout is in progress any more (the saga's: no saga running), so phases do not overlap. */
  drain: () => Promise<void>;
  /** Checkouts confirmed so far, counted by the variant itself (the client may have given up on some). */
  confirmedTotal: () => Promise<number>;
  /** Where the time of these checkouts went, as table rows (the saga's timeline). */
  breakdown?: (attempts: Attempt[]) => Promise<{ rows: string[]; orders: number }>;
}

interface Measured {
  summary: PhaseSummary;
  /** CPU ms per checkout the variant confirmed over the phase and its drain, all the variant's processes (gross: background work included). */
  cpuPerCheckout: number;
}

interface Cost {
  rate: number;
  checkouts: number;
  commitsGross: number;
  commitsNet: number;
  commitsByDatabase: Record<string, number>;
  idleCommitsPerSecond: number;
  /** Transactions that wrote (transaction ids assigned, server-wide), and WAL bytes, net of idle. */
  writeTransactions: number;
  walBytes: number;
  rollbacks: number;
  messagesWritten: number;
  messagesByService: Record<string, number>;
  messagesHandled: number;
  /** CPU ms per checkout by role, net of the idle rate (except this process's); and the idle rate itself (CPU ms per second). */
  cpuNet: Record<string, number>;
  cpuIdlePerSecond: Record<string, number>;
  summary: PhaseSummary;
}

interface SubjectResult {
  closed: Map<number, Measured>;
  rates: Map<number, Measured | { skipped: string }>;
  cost: Cost;
  breakdown?: { rows: string[]; orders: number };
}

const systemCpu = (cpu: Record<string, number>) => Object.entries(cpu).reduce((sum, [role, ms]) => (role === 'bench' ? sum : sum + ms), 0);
const kept = (m: Measured, rate: number) => m.summary.sentPerSecond >= 0.95 * rate && m.summary.confirmedPerSecond >= 0.95 * rate && m.summary.errorCount === 0;

async function measured(subject: Subject, run: () => Promise<PhaseResult>): Promise<{ measured: Measured; phase: PhaseResult }> {
  const before = cpuSnapshot(subject.processes);
  const confirmedBefore = await subject.confirmedTotal();
  const phase = await run();
  // Until the last checkout the variant accepted is final (the client may have given up on it): its work counts too.
  await subject.drain();
  const cpu = cpuBetween(before, cpuSnapshot(subject.processes));
  const confirmed = (await subject.confirmedTotal()) - confirmedBefore || 1;
  const summary = summarize(phase);
  // The monolith runs inside this process: its "system" CPU is this process's (load generation included).
  const own = subject.name === 'monolith' ? cpu['bench']! + systemCpu(cpu) : systemCpu(cpu);
  if (summary.errorCount > 0) log(`${subject.name}: ${summary.errorCount} errors, e.g. ${summary.examples.join(' | ')}`);
  log(`${subject.name}: ${rate(summary.confirmedPerSecond)} confirmed/s, p50 ${ms(summary.p50)} ms, p95 ${ms(summary.p95)} ms, ${summary.errorCount} errors`);
  return { measured: { summary, cpuPerCheckout: own / confirmed }, phase };
}

/** Commits, messages, then CPU and time: each interval holds the CPU of one such reading (the one that closes it). */
async function counters(subject: Subject, since: Date) {
  const server = await serverCounters(subject.adminUrl);
  const messages = await messageCounts(subject.messageDatabases, since);
  const confirmed = await subject.confirmedTotal();
  return { commits: server.databases, xids: server.xids, walBytes: server.walBytes, messages, confirmed, cpu: cpuSnapshot(subject.processes), at: performance.now() };
}

async function runSubject(subject: Subject): Promise<SubjectResult> {
  const phase = { seconds, warmUpSeconds, timeoutMs };
  log(`${subject.name}: warm-up (8 clients, ${warmUpSeconds + 5} s)`);
  await closedLoop(subject.checkout, { ...phase, concurrency: 8, seconds: 5 });
  await subject.drain();
  const result: SubjectResult = { closed: new Map(), rates: new Map(), cost: undefined as unknown as Cost };
  const closedPhase = async (concurrency: number) => {
    log(`${subject.name}: closed loop, ${concurrency} client(s)`);
    const run = await measured(subject, () => closedLoop(subject.checkout, { ...phase, concurrency }));
    result.closed.set(concurrency, run.measured);
    if (concurrency === 1 && subject.breakdown) result.breakdown = await subject.breakdown(run.phase.attempts.filter((a) => a.measured));
    await sleep(2000);
  };
  // Uncontended first, then the fixed rates, then the saturating closed loops.
  for (const c of concurrencies.filter((c) => c === 1)) await closedPhase(c);
  let saturatedAt: { rate: number; confirmed: number } | undefined;
  for (const r of rates) {
    if (saturatedAt && !runAllRates) {
      result.rates.set(r, { skipped: `not run: at ${saturatedAt.rate}/s only ${rate(saturatedAt.confirmed)}/s confirmed` });
      continue;
    }
    log(`${subject.name}: ${r} checkouts/s`);
    const m = (await measured(subject, () => openLoop(subject.checkout, { ...phase, rate: r, maxInFlight }))).measured;
    result.rates.set(r, m);
    if (m.summary.confirmedPerSecond < 0.5 * r) saturatedAt = { rate: r, confirmed: m.summary.confirmedPerSecond };
    await sleep(2000);
  }

  // Cost at a rate the variant keeps: quiet (stats flushed), idle (the background rate), the load, drained, quiet again.
  // The idle interval lasts as long as the loaded one will (load + quiet), so both hold the same background work and readings.
  const keptRates = [...result.rates].filter((e): e is [number, Measured] => 'summary' in e[1] && kept(e[1], e[0])).map(([r]) => r);
  const costAt = Math.min(costRate, Math.max(rates[0]!, ...keptRates.filter((r) => r <= costRate)));
  const idleSeconds = seconds + STATS_FLUSH_MS / 1000;
  log(`${subject.name}: cost phase at ${costAt}/s (quiet ${STATS_FLUSH_MS / 1000} s, idle ${idleSeconds} s, load ${seconds} s, quiet ${STATS_FLUSH_MS / 1000} s)`);
  await sleep(STATS_FLUSH_MS);
  const since = new Date();
  const a = await counters(subject, since);
  await sleep(idleSeconds * 1000);
  const b = await counters(subject, since);
  const loadRun = await openLoop(subject.checkout, { ...phase, warmUpSeconds: 0, rate: costAt, maxInFlight });
  await subject.drain();
  await sleep(STATS_FLUSH_MS);
  const c = await counters(subject, since);
  const checkouts = c.confirmed - b.confirmed;
  const idleMeasured = (b.at - a.at) / 1000;
  const loadSeconds = (c.at - b.at) / 1000;
  const commitTotal = (snapshot: typeof a.commits) => Object.entries(snapshot).reduce((sum, [db, n]) => (subject.countsCommits(db) ? sum + n.commits : sum), 0);
  const idleCommitsPerSecond = (commitTotal(b.commits) - commitTotal(a.commits)) / idleMeasured;
  const commitsGross = (commitTotal(c.commits) - commitTotal(b.commits)) / checkouts;
  /** Per checkout, net of the idle rate: (loaded delta − idle delta scaled to the loaded interval) / checkouts. */
  const net = (atA: number, atB: number, atC: number) => (atC - atB - ((atB - atA) * loadSeconds) / idleMeasured) / checkouts;
  const commitsByDatabase: Record<string, number> = {};
  let rollbacks = 0;
  for (const [db, n] of Object.entries(c.commits)) {
    if (!subject.countsCommits(db)) continue;
    const atA = a.commits[db] ?? { commits: 0, rollbacks: 0 };
    const atB = b.commits[db] ?? { commits: 0, rollbacks: 0 };
    commitsByDatabase[db] = net(atA.commits, atB.commits, n.commits);
    rollbacks += n.rollbacks - atB.rollbacks;
  }
  const messagesByService: Record<string, number> = {};
  let handled = 0;
  for (const [service, n] of Object.entries(c.messages)) {
    messagesByService[service] = (n.written - (b.messages[service]?.written ?? 0)) / checkouts;
    handled += n.handled - (b.messages[service]?.handled ?? 0);
  }
  const idleCpu = cpuBetween(a.cpu, b.cpu);
  const loadCpu = cpuBetween(b.cpu, c.cpu);
  const cpuNet: Record<string, number> = {};
  const cpuIdlePerSecond: Record<string, number> = {};
  for (const role of Object.keys(loadCpu)) {
    cpuIdlePerSecond[role] = (idleCpu[role] ?? 0) / idleMeasured;
    // This process has no background work of its own (its idle CPU is leftover garbage collection): counted gross.
    const background = role === 'bench' ? 0 : cpuIdlePerSecond[role]! * loadSeconds;
    cpuNet[role] = (loadCpu[role]! - background) / checkouts;
  }
  result.cost = {
    rate: costAt,
    checkouts,
    commitsGross,
    commitsNet: commitsGross - (idleCommitsPerSecond * loadSeconds) / checkouts,
    writeTransactions: net(a.xids, b.xids, c.xids),
    walBytes: net(a.walBytes, b.walBytes, c.walBytes),
    commitsByDatabase,
    idleCommitsPerSecond,
    rollbacks: rollbacks / checkouts,
    messagesWritten: Object.values(messagesByService).reduce((x, y) => x + y, 0),
    messagesByService,
    messagesHandled: handled / checkouts,
    cpuNet,
    cpuIdlePerSecond,
    summary: summarize(loadRun),
  };

  for (const c of concurrencies.filter((c) => c !== 1)) await closedPhase(c);
  return result;
}

// ---------- the two variants ----------

async function monolithSubject(work: string, closers: Array<() => Promise<void>>): Promise<{ subject: Subject; version: string; check: () => Promise<string> }> {
  const postgres = await startEmbeddedPostgres({ stateDir: join(work, 'monolith'), preferredPort: 0 });
  closers.push(() => postgres.stop());
  await createDatabaseIfMissing(postgres.adminUrl, 'bench_monolith');
  const db = new Database({ connectionString: databaseUrl(postgres.adminUrl, 'bench_monolith'), applicationName: 'bench-monolith', max: Math.max(16, ...concurrencies) });
  closers.push(() => db.close());
  const products = await createMonolith(db, productCount, STOCK);
  const postmaster = postmasterPid(postgres.dataDir);
  const version = (await db.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  return {
    version,
    subject: {
      name: 'monolith',
      checkout: monolithCheckout(db, basket(products)),
      processes: () => ({ postgres: [postmaster, ...childrenOf(postmaster)] }),
      adminUrl: postgres.adminUrl,
      countsCommits: (database) => database === 'bench_monolith',
      messageDatabases: {},
      drain: async () => {},
      confirmedTotal: async () => Number((await db.query<{ n: string }>("SELECT count(*)::text AS n FROM orders WHERE status = 'CONFIRMED'")).rows[0]!.n),
    },
    check: async () => {
      const t = await monolithTotals(db, STOCK);
      const ok = t.orders === t.payments && t.orders === t.shipments && t.unitsSold === t.stockTaken;
      return `monolith totals: ${t.orders} orders CONFIRMED, ${t.payments} payments, ${t.shipments} shipments, ${t.unitsSold} units sold, ${t.stockTaken} taken from stock → ${ok ? 'consistent' : 'INCONSISTENT'}`;
    },
  };
}

interface SystemLog {
  tail: string[];
  levels: Record<string, number>;
}

/** After start, keep only the launcher's last lines and a count of warnings and errors (the run logs every request). */
function tapLogs(system: RunningSystem): SystemLog {
  const state: SystemLog = { tail: [], levels: {} };
  for (const stream of [system.process.stdout!, system.process.stderr!]) {
    stream.removeAllListeners('data');
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        // A service's formatted log line ("orders | 18:02:47 WARN  …"), or the launcher's own notice (a service restarted).
        const level = line.startsWith('bazaar ') ? 'launcher notice' : / (WARN|ERROR|FATAL) /.exec(line)?.[1];
        if (level) {
          const key = level === 'launcher notice' ? level : `${line.split('|')[0]!.trim()} ${level}`;
          state.levels[key] = (state.levels[key] ?? 0) + 1;
          state.tail.push(line);
          if (state.tail.length > 40) state.tail.shift();
        }
      }
    });
  }
  system.output.length = 0;
  return state;
}

async function sagaSubject(work: string, closers: Array<() => Promise<void>>): Promise<{ subject: Subject; logs: SystemLog; brokerLabel: string }> {
  const stateDir = join(work, 'system');
  const prefix = `bench${randomUUID().slice(0, 8)}`;
  const admin = { email: 'bench-admin@bazaar.test', password: `Bench-${randomBytes(12).toString('base64url')}` };
  log(`starting the system (${flags.broker ? `NATS at ${flags.broker}, prefix ${prefix}` : 'embedded broker'})`);
  const system = await startSystem(stateDir, await freePort(), {
    args: flags.broker ? ['--broker', flags.broker] : [],
    env: {
      BROKER_PREFIX: prefix,
      BAZAAR_ADMIN_EMAIL: admin.email,
      BAZAAR_ADMIN_PASSWORD: admin.password,
      // One client IP sends every request here; the per-IP limit (600/min) is for the public.
      RATE_LIMIT_PER_MINUTE: '1000000000',
      ACCESS_TOKEN_TTL_SECONDS: '7200',
    },
  });
  closers.push(async () => {
    await stopSystem(system);
    if (flags.broker) {
      const nats = new NatsBroker(flags.broker, { prefix });
      await nats.deleteStreams().finally(() => nats.close());
    }
  });
  const logs = tapLogs(system);
  const runtime = await readRuntimeFile(stateDir);
  if (!runtime) throw new Error('the launcher wrote no runtime file');
  const databases = Object.fromEntries(Object.entries(runtime.databases).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  const anyDatabase = new URL(Object.values(databases)[0]!);
  anyDatabase.pathname = '/postgres';
  const orders = new Database({ connectionString: databases['orders']!, applicationName: 'bench-checkout-drain', max: 2 });
  closers.push(() => orders.close());
  const postmaster = postmasterPid(join(stateDir, 'postgres'));
  const natsPid = flags.broker ? Number(spawnSync('pgrep', ['-x', 'nats-server']).stdout.toString().trim().split('\n')[0] ?? 0) : 0;
  const launcher = system.process.pid!;
  const processes: ProcessMap = () => {
    const roles: Record<string, number[]> = { launcher: [launcher] };
    for (const pid of childrenOf(launcher)) {
      const service = /services\/([a-z]+)\/src\/main\.ts/.exec(commandLine(pid))?.[1];
      if (service) roles[service] = [pid];
    }
    roles['postgres'] = [postmaster, ...childrenOf(postmaster)];
    if (natsPid) roles['nats-server'] = [natsPid];
    return roles;
  };
  log(`system up: ${Object.entries(processes()).filter(([role]) => role !== 'postgres').map(([role, pids]) => `${role} ${pids.join(',')}`).join(', ')}`);
  const shop = await openShop(runtime.gateway, admin, { customers: customerCount, productCount, stock: STOCK });
  return {
    logs,
    brokerLabel: flags.broker ? `NATS JetStream at ${new URL(flags.broker).host} (prefix ${prefix})` : 'embedded (PostgreSQL database on the same server)',
    subject: {
      name: 'saga',
      checkout: sagaCheckout(shop, basket(shop.products), wait),
      processes,
      adminUrl: anyDatabase.toString(),
      countsCommits: (database) => !['postgres', 'template0', 'template1'].includes(database),
      messageDatabases: databases,
      drain: async () => {
        const deadline = Date.now() + DRAIN_LIMIT_MS;
        for (let said = 0; ; ) {
          const running = Number((await orders.query<{ n: string }>("SELECT count(*)::text AS n FROM sagas WHERE status IN ('RUNNING', 'COMPENSATING')")).rows[0]!.n);
          if (running === 0) return;
          if (Date.now() > deadline) throw new Error(`${running} sagas still running after ${DRAIN_LIMIT_MS / 1000} s`);
          if (Date.now() - said > 10_000) {
            log(`saga: waiting for ${running} running sagas to finish`);
            said = Date.now();
          }
          await sleep(250);
        }
      },
      confirmedTotal: async () => Number((await orders.query<{ n: string }>("SELECT count(*)::text AS n FROM sagas WHERE status = 'CONFIRMED'")).rows[0]!.n),
      breakdown: (attempts) => sagaBreakdown(databases['orders']!, attempts),
    },
  };
}

// ---------- report ----------

const ms = (v: number) => (v === Infinity ? '∞ (errors)' : Number.isNaN(v) ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en'));
const rate = (v: number) => (v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en'));
const errorsCell = (s: PhaseSummary) =>
  s.errorCount === 0
    ? '0'
    : `**${s.errorCount}** (${Object.entries(s.errors)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`;

function report(results: Map<string, SubjectResult>, label: (name: string) => string): string[] {
  const out: string[] = [];
  const names = [...results.keys()];
  out.push(
    `#### Closed loop: N clients, each starting its next checkout when the last is confirmed (${seconds} s measured after ${warmUpSeconds} s)`,
    '',
    '| variant | clients | confirmed checkouts/s | × monolith | p50 ms | p95 ms | p99 ms | errors | CPU ms per checkout (variant\'s processes) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const c of concurrencies) {
    for (const name of names) {
      const m = results.get(name)!.closed.get(c)!;
      const floor = results.get('monolith')?.closed.get(c);
      const ratio = floor && name !== 'monolith' ? (m.summary.confirmedPerSecond / floor.summary.confirmedPerSecond).toFixed(3) : '—';
      out.push(`| ${label(name)} | ${c} | ${rate(m.summary.confirmedPerSecond)} | ${ratio} | ${ms(m.summary.p50)} | ${ms(m.summary.p95)} | ${ms(m.summary.p99)} | ${errorsCell(m.summary)} | ${m.cpuPerCheckout.toFixed(2)} |`);
    }
  }
  out.push(
    '',
    `#### Fixed arrival rates (open loop): checkout sent → CONFIRMED seen (${seconds} s measured after ${warmUpSeconds} s; a checkout that did not confirm counts as infinitely slow)`,
    '',
    '| variant | target/s | sent/s | confirmed/s | rate kept | p50 ms | p95 ms | p99 ms | max ms | errors | CPU ms per checkout (variant\'s processes) |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rates) {
    for (const name of names) {
      const m = results.get(name)!.rates.get(r)!;
      if ('skipped' in m) {
        out.push(`| ${label(name)} | ${r} | — | — | **no** | ${m.skipped} | | | | | |`);
        continue;
      }
      out.push(
        `| ${label(name)} | ${r} | ${rate(m.summary.sentPerSecond)} | ${rate(m.summary.confirmedPerSecond)} | ${kept(m, r) ? 'yes' : '**no**'} | ${ms(m.summary.p50)} | ${ms(m.summary.p95)} | ${ms(m.summary.p99)} | ${ms(m.summary.max)} | ${errorsCell(m.summary)} | ${m.cpuPerCheckout.toFixed(2)} |`,
      );
    }
  }
  const costs = names.map((n) => results.get(n)!.cost);
  const cell = (f: (c: Cost) => string) => costs.map(f).join(' | ');
  const databases = [...new Set(costs.flatMap((c) => Object.keys(c.commitsByDatabase)))].sort();
  const services = [...new Set(costs.flatMap((c) => Object.keys(c.messagesByService)))].sort();
  const roles = [...new Set(costs.flatMap((c) => Object.keys(c.cpuNet)))].sort((a, b) => Number(a === 'bench') - Number(b === 'bench') || a.localeCompare(b));
  out.push(
    '',
    `#### Cost per checkout (open loop for ${seconds} s at ${costRate}/s, or at the highest lower rate the variant kept; counters read after the last saga finished and ${STATS_FLUSH_MS / 1000} s of quiet, net of the background rate measured over ${seconds + STATS_FLUSH_MS / 1000} s idle just before)`,
    '',
    `| per checkout | ${names.map(label).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|`,
    `| rate of the cost phase (checkouts/s) | ${cell((c) => String(c.rate))} |`,
    `| checkouts confirmed in the cost phase (counted by the variant) | ${cell((c) => String(c.checkouts))} |`,
    `| commits, pg_stat_database.xact_commit (net of idle; read-only transactions included) | ${cell((c) => c.commitsNet.toFixed(2))} |`,
    `| commits (gross: background work included) | ${cell((c) => c.commitsGross.toFixed(2))} |`,
    `| idle background commits/s | ${cell((c) => c.idleCommitsPerSecond.toFixed(1))} |`,
    ...databases.map((db) => `| commits in ${db} (net) | ${cell((c) => (c.commitsByDatabase[db] === undefined ? '—' : c.commitsByDatabase[db]!.toFixed(2)))} |`),
    `| write transactions (transaction ids assigned, server-wide, net of idle) | ${cell((c) => c.writeTransactions.toFixed(2))} |`,
    `| WAL bytes (net of idle) | ${cell((c) => Math.round(c.walBytes).toLocaleString('en'))} |`,
    `| rollbacks | ${cell((c) => c.rollbacks.toFixed(2))} |`,
    `| messages written (outbox rows) | ${cell((c) => c.messagesWritten.toFixed(2))} |`,
    ...services.map((s) => `| messages written by ${s} | ${cell((c) => (c.messagesByService[s] === undefined ? '—' : c.messagesByService[s]!.toFixed(2)))} |`),
    `| messages handled (inbox rows, all consumer groups) | ${cell((c) => c.messagesHandled.toFixed(2))} |`,
    ...roles.map(
      (role) =>
        `| CPU ms: ${role === 'bench' ? 'this process (monolith: the app and its load generator; saga: the load generator only)' : role} | ${cell((c) => (c.cpuNet[role] === undefined ? '—' : `${c.cpuNet[role]!.toFixed(2)} (idle ${c.cpuIdlePerSecond[role]!.toFixed(1)} ms/s)`))} |`,
    ),
    `| CPU ms: all the variant's processes | ${names.map((n) => { const c = results.get(n)!.cost; const total = Object.entries(c.cpuNet).reduce((s, [r, v]) => (r === 'bench' && n !== 'monolith' ? s : s + v), 0); return total.toFixed(2); }).join(' | ')} |`,
    `| latency in the cost phase p50 / p95 / p99 ms | ${cell((c) => `${ms(c.summary.p50)} / ${ms(c.summary.p95)} / ${ms(c.summary.p99)}`)} |`,
  );
  for (const [name, r] of results) {
    if (!r.breakdown || r.breakdown.orders === 0) continue;
    out.push(
      '',
      `#### Where an uncontended saga checkout's time goes (1 client; ${r.breakdown.orders} checkouts without a resend or deadline; the orders service's saga timeline, stamped by the orders process when each entry is noted, and the client's clock)`,
      '',
      `| ${label(name)}: segment | median ms | p95 ms |`,
      '|---|---:|---:|',
      ...r.breakdown.rows,
    );
  }
  return out;
}

function barChecks(results: Map<string, SubjectResult>, embedded: boolean): string[] {
  const saga = results.get('saga');
  const mono = results.get('monolith');
  if (!saga || !mono) return [];
  const out = ['', '#### Bar checks', ''];
  const uncontended = saga.closed.get(1);
  if (uncontended) {
    const p50 = uncontended.summary.p50;
    out.push(
      `- Uncontended checkout-to-confirmed p50 ≤ 50 ms${embedded ? '' : ' (the bar is for the embedded broker; reported here for NATS)'}: **${ms(p50)} ms → ${p50 <= 50 ? 'met' : 'NOT met'}** (1 client, ${uncontended.summary.sent} checkouts; p95 ${ms(uncontended.summary.p95)}, p99 ${ms(uncontended.summary.p99)} ms; monolith ${ms(mono.closed.get(1)!.summary.p50)} ms).`,
    );
  }
  const passing = [...saga.rates.entries()].filter((e): e is [number, Measured] => 'summary' in e[1] && kept(e[1], e[0]) && e[1].summary.p95 < 500).map(([r]) => r);
  const at100 = saga.rates.get(100);
  const highest = passing.length ? `; highest rate kept with p95 < 500 ms and no errors: ${Math.max(...passing)}/s` : '; no rate was kept with p95 < 500 ms and no errors';
  if (at100 && 'skipped' in at100) {
    out.push(`- ≥ 100 checkouts/s sustained with p95 < 500 ms and no errors: **NOT met** (100/s ${at100.skipped}${highest}).`);
  } else if (at100) {
    out.push(
      `- ≥ 100 checkouts/s sustained with p95 < 500 ms and no errors: at 100/s confirmed ${rate(at100.summary.confirmedPerSecond)}/s, p95 ${ms(at100.summary.p95)} ms, ${at100.summary.errorCount} errors → **${passing.includes(100) ? 'met' : 'NOT met'}**${highest}.`,
    );
  }
  const best = (r: SubjectResult) => Math.max(...[...r.closed.values()].map((m) => m.summary.confirmedPerSecond));
  const clients = (n: number) => `${n} client${n === 1 ? '' : 's'}`;
  const bestClients = (r: SubjectResult) => [...r.closed.entries()].reduce((a, b) => (b[1].summary.confirmedPerSecond > a[1].summary.confirmedPerSecond ? b : a))[0];
  out.push(
    `- Throughput ratio (best closed-loop rate of each): saga ${rate(best(saga))}/s (${clients(bestClients(saga))}) ÷ monolith ${rate(best(mono))}/s (${clients(bestClients(mono))}) = **${(best(saga) / best(mono)).toFixed(3)}** (the monolith is ${(best(mono) / best(saga)).toFixed(1)}× the saga).`,
  );
  const costRatio = (a: Cost, b: Cost) => (Object.entries(a.cpuNet).reduce((s, [r, v]) => (r === 'bench' ? s : s + v), 0) / Object.values(b.cpuNet).reduce((s, v) => s + v, 0)).toFixed(1);
  out.push(`- Per checkout (cost phase: saga at ${saga.cost.rate}/s, monolith at ${mono.cost.rate}/s) the saga commits ${saga.cost.commitsNet.toFixed(1)} transactions (${saga.cost.writeTransactions.toFixed(1)} of them writing, ${Math.round(saga.cost.walBytes / 1024)} KiB of WAL) against the monolith's ${mono.cost.commitsNet.toFixed(2)} (${mono.cost.writeTransactions.toFixed(2)} writing, ${(mono.cost.walBytes / 1024).toFixed(1)} KiB), writes ${saga.cost.messagesWritten.toFixed(1)} messages, and burns ${costRatio(saga.cost, mono.cost)}× its CPU (load generator excluded for the saga, included for the monolith).`);
  return out;
}

// ---------- main ----------

async function main(): Promise<void> {
  const began = Date.now();
  const loadBefore = loadavg()[0]!;
  const ticksBefore = machineTicks();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD']).stdout.toString().trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'packages', 'services']).stdout.toString().trim() !== '';
  const work = await mkdtemp(join(tmpdir(), 'bazaar-bench-checkout-'));
  const closers: Array<() => Promise<void>> = [];
  const results = new Map<string, SubjectResult>();
  const notes: string[] = [];
  let brokerLabel = 'none (--monolith-only)';
  let postgresVersion: string;
  let systemLogs: SystemLog | undefined;
  try {
    const monolith = await monolithSubject(work, closers);
    postgresVersion = monolith.version;
    results.set('monolith', await runSubject(monolith.subject));
    notes.push(await monolith.check());
    // The floor's PostgreSQL stops before the system starts: the saga has the machine to itself.
    for (const close of closers.splice(0).reverse()) await close();

    if (!flags['monolith-only']) {
      const saga = await sagaSubject(work, closers);
      brokerLabel = saga.brokerLabel;
      systemLogs = saga.logs;
      results.set('saga', await runSubject(saga.subject));
      const levels = Object.entries(saga.logs.levels);
      notes.push(`system log lines at WARN or above during the run: ${levels.length ? levels.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
    }
  } catch (error) {
    if (systemLogs?.tail.length) log(`last warnings/errors of the system:\n${systemLogs.tail.join('\n')}`);
    throw error;
  } finally {
    for (const close of closers.reverse()) await close().catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
    await closeClients().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }

  const label = (name: string) => (name === 'monolith' ? 'monolith (1 transaction)' : `saga via gateway (${flags.broker ? 'NATS' : 'embedded broker'}${wait === 'poll' ? ', polling' : ''})`);
  const ticksAfter = machineTicks();
  const share = (key: 'idle' | 'steal') => `${Math.round((100 * (ticksAfter[key] - ticksBefore[key])) / (ticksAfter.total - ticksBefore.total))} %`;
  const command = ['node bench/checkout/run.ts', ...(flags.broker ? [`--broker ${flags.broker}`] : []), ...(wait === 'poll' ? ['--wait poll'] : []), ...(flags['monolith-only'] ? ['--monolith-only'] : [])].join(' ');
  const natsVersion = flags.broker ? `, ${spawnSync('nats-server', ['--version']).stdout.toString().trim()} (JetStream, file storage)` : '';
  const header = [
    `Run: \`${command}\` (BENCH_SECONDS=${seconds}, BENCH_WARMUP_SECONDS=${warmUpSeconds}, BENCH_RATES=${rates.join(',')}, BENCH_CONCURRENCY=${concurrencies.join(',')}, BENCH_COST_RATE=${costRate}, BENCH_PRODUCTS=${productCount}, BENCH_CUSTOMERS=${customerCount}), ${new Date().toISOString().slice(0, 16)}Z, commit ${commit}${dirty ? ' (with uncommitted changes in packages/ or services/)' : ''}`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, PostgreSQL ${postgresVersion} (embedded, default settings; the monolith on a cluster of its own, stopped before the system starts)${natsVersion}; broker: ${brokerLabel}; waiting for CONFIRMED by ${wait === 'sse' ? 'the order\'s event stream (SSE)' : 'polling GET /api/orders/:id every 5 ms'}. Load generator, services, PostgreSQL${flags.broker ? ' and nats-server' : ''} share the cores. Load average (1 min) ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; over the run the machine's CPU time was ${share('idle')} idle and ${share('steal')} stolen by the hypervisor; the run took ${Math.round((Date.now() - began) / 60_000)} min.`,
    '',
  ];
  const lines = [...header, ...report(results, label), ...barChecks(results, !flags.broker), '', ...notes.map((n) => `- ${n}`)];
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  },
);
