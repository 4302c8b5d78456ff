/**
 * npm run bench:resilience — what the resilience policies cost and what they buy,
 * each beside its baseline in one run:
 *
 *   1. overhead     `UpstreamClient` (bulkhead → retry within a budget → circuit breaker →
 *                   timeout → load balancer, the default call policy) against a bare undici
 *                   `Pool` doing the same GET and reading the body the same way; one call at
 *                   a time and 32 in flight, to one instance and to two; rounds interleaved
 *                   raw / policies / raw / policies…; the dependency is a `node:http` server
 *                   in a child process.
 *   2. 10 % failures  the same dependency answering 503 to a random 10 % of requests, at a
 *                   fixed rate (open loop): success ratio, upstream requests per call, p50/p99.
 *   3. stalled upstream  the real gateway (child process, static discovery, in-memory rate
 *                   limit, no broker so no cache, UPSTREAM_TIMEOUT_MS=1000) in front of fake
 *                   services (a catalog process, an orders process): a steady rate on
 *                   GET /api/catalog/products and a concurrent rate on GET /api/orders, each
 *                   from a load generator process of its own; phase A orders healthy, then
 *                   BENCH_OUTAGES times: phase B orders stalled (never answers), phase C orders
 *                   healthy again (recovering), phase D healthy (recovered). Catalog p50/p99 per
 *                   phase; the bar on the p99 of every stalled phase pooled against the healthy
 *                   phases around them pooled (the order of the phases flatters neither side),
 *                   beside the same statistic between healthy phases alone (the noise floor)
 *                   and each outage's own ratio; what the orders callers got, second by
 *                   second; CPU of every process second by second (in the JSON).
 *
 * Prints markdown for docs/benchmarks.md; writes the figures as JSON to
 * bench/resilience/results/<timestamp>.json.
 *
 * Options (env): BENCH_ROUNDS (15), BENCH_SERIAL_CALLS per round (1000), BENCH_CONCURRENT_CALLS
 * per round (5000), BENCH_CONCURRENCY (32), BENCH_FAILURE_RATE (0.1), BENCH_FAILURE_RPS (1000),
 * BENCH_FAILURE_SECONDS (8), BENCH_PHASE_SECONDS (10), BENCH_CATALOG_RATE (half the gateway's
 * measured maximum on the catalog route, at most 1500), BENCH_ORDERS_RATE (200),
 * BENCH_UPSTREAM_TIMEOUT_MS (the gateway's UPSTREAM_TIMEOUT_MS, 1000), BENCH_OUTAGES (5), BENCH_WARMUP_OUTAGE
 * (1: an unmeasured stall first, see below; 0: none), BENCH_PARTS
 * (overhead,failures,outage: a subset runs only those).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { AppError, UpstreamClient, UpstreamMetrics, propagationHeaders } from '@bazaar/chassis';
import { freePort } from '@bazaar/runtime/ports';
import { callPolicy, routedServices, serviceUrlVariable, type CallPolicy } from '@bazaar/topology';
import { closedLoop, median, openLoop, percentile, type Call, type CostSample, type OpenLoopResult } from './load.ts';
import { machineTicks, ticks } from '../proc.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const rounds = num('BENCH_ROUNDS', 15);
const serialCalls = num('BENCH_SERIAL_CALLS', 1000);
const concurrentCalls = num('BENCH_CONCURRENT_CALLS', 5000);
const concurrency = num('BENCH_CONCURRENCY', 32);
const failureRate = num('BENCH_FAILURE_RATE', 0.1);
const failureRps = num('BENCH_FAILURE_RPS', 1000);
const failureSeconds = num('BENCH_FAILURE_SECONDS', 8);
const phaseSeconds = num('BENCH_PHASE_SECONDS', 10);
const ordersRate = num('BENCH_ORDERS_RATE', 200);
const upstreamTimeoutMs = num('BENCH_UPSTREAM_TIMEOUT_MS', 1000);
/** Stalls of orders in one run, each between healthy phases: the bar is judged on their latencies pooled (see pooledOutage). */
const outages = Math.max(1, num('BENCH_OUTAGES', 5));
/**
 * An unmeasured stall of orders before phase A (1, the default; 0: none). A process's
 * first failures deoptimize its hot path: V8 throws away the optimized code of the
 * data plane, the upstream client and Node's HTTP internals, which had never seen a
 * timeout or a refusal, and runs them slower until it has compiled them again
 * (`--trace-deopt` on the gateway lists `proxy`, `execute`, `attempt`, `storeHeader`…
 * in the first stall, and next to nothing in the later ones). A gateway that has run
 * for a while has been through that long before an outage; the first stall of a fresh
 * process is a start-up cost, not the steady state the bar is about. With 0, the
 * first measured stall pays it.
 */
const warmUpOutage = num('BENCH_WARMUP_OUTAGE', 1) > 0;
/** Which parts to run (all by default): overhead, failures, outage. */
const parts = new Set((process.env['BENCH_PARTS'] ?? 'overhead,failures,outage').split(',').map((p) => p.trim()));
/** The bar of the issue: added µs per call on the happy path, and the rise of an unrelated route's p99 under an outage. */
const BAR_ADDED_US = 20;
const BAR_P99_RISE = 0.2;

const children: ChildProcess[] = [];
const log = (message: string) => process.stderr.write(`bench: ${new Date().toISOString().slice(11, 19)} ${message}\n`);

// ---------- processes ----------

function startChild<T>(entry: string, env: Record<string, string | undefined>, stdout: 'ignore' | 'pipe' = 'ignore'): Promise<{ child: ChildProcess; ready: T }> {
  const child = spawn(process.execPath, [join(root, entry)], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', stdout, 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (ready) => resolve({ child, ready: ready as T }));
    child.once('exit', (code) => reject(new Error(`${entry} exited ${code}`)));
  });
}

function stopChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** utime + stime of a process, ms. */
const cpuMs = (pid: number): number => ticks(pid) * 10;

/** Same options as the client's own pools, so the baseline differs only by the policies. */
const poolOptions = { connections: 32, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 };

/** The default policy, as every service's dependency without a declared exception gets it. */
function newClient(urls: string[], policy: CallPolicy = callPolicy('bench', 'dep')): { client: UpstreamClient; registry: Registry } {
  const registry = new Registry();
  const endpoints = urls.map((url, i) => ({ id: `dep-${i}`, url }));
  const client = new UpstreamClient({ caller: 'bench', service: 'dep', policy, instances: () => endpoints, metrics: new UpstreamMetrics(registry) });
  return { client, registry };
}

async function rawGet(pool: Pool, path: string, headers?: Record<string, string>): Promise<number> {
  const response = await pool.request({ method: 'GET', path, ...(headers ? { headers } : {}) });
  Buffer.from(await response.body.arrayBuffer());
  return response.statusCode;
}

async function counterValue(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + Number(v.value), 0);
}

// ---------- 1. overhead on the happy path ----------

interface OverheadRow {
  instances: number;
  mode: 'serial' | 'concurrent';
  width: number;
  calls: number;
  raw: CostSample[];
  policies: CostSample[];
  /** raw with the headers the client adds (accept, x-bazaar-caller, trace context): what of the difference is headers. */
  rawWithHeaders: CostSample[];
}

async function overhead(ports: number[]): Promise<OverheadRow[]> {
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const pools = urls.map((url) => new Pool(url, poolOptions));
  const one = newClient(urls.slice(0, 1)).client;
  const two = newClient(urls).client;
  let turn = 0;
  // The baseline to two instances takes them in turn (what a caller without a balancer would do).
  const raw = (n: number) => (n === 1 ? () => rawGet(pools[0]!, '/ok') : () => rawGet(pools[turn++ % 2]!, '/ok'));
  const headers = () => propagationHeaders({ accept: 'application/json', 'x-bazaar-caller': 'bench' });
  const rawWithHeaders = () => rawGet(pools[0]!, '/ok', headers());
  const policies = (n: number) => (n === 1 ? () => one.request({ path: '/ok' }) : () => two.request({ path: '/ok' }));

  const rows: OverheadRow[] = [];
  for (const instances of [1, 2]) {
    for (const [mode, width, calls] of [['serial', 1, serialCalls], ['concurrent', concurrency, concurrentCalls]] as const) {
      rows.push({ instances, mode, width, calls, raw: [], policies: [], rawWithHeaders: [] });
    }
  }
  // Warm-up (JIT, connections), not recorded.
  for (const row of rows) {
    await closedLoop(raw(row.instances), row.calls, row.width);
    await closedLoop(policies(row.instances), row.calls, row.width);
    if (row.instances === 1) await closedLoop(rawWithHeaders, row.calls, row.width);
  }
  for (let round = 1; round <= rounds; round++) {
    log(`overhead: round ${round}/${rounds}`);
    for (const row of rows) {
      // Alternate which goes first, so neither always runs on the other's garbage.
      const order = round % 2 ? (['raw', 'policies'] as const) : (['policies', 'raw'] as const);
      for (const variant of order) row[variant].push(await closedLoop(variant === 'raw' ? raw(row.instances) : policies(row.instances), row.calls, row.width));
      if (row.instances === 1) row.rawWithHeaders.push(await closedLoop(rawWithHeaders, row.calls, row.width));
    }
  }
  await Promise.all([one.close(), two.close(), ...pools.map((p) => p.close())]);
  return rows;
}

// ---------- 2. 10 % failures ----------

interface FailureRow {
  variant: 'raw' | 'policies';
  load: OpenLoopResult;
  /** Requests the dependency received during the phase. */
  upstreamRequests: number;
  retriesCounted: number;
  budgetRefusals: number;
}

async function failures(port: number): Promise<FailureRow[]> {
  const url = `http://127.0.0.1:${port}`;
  const stats = async () => {
    const counts = (await (await fetch(`${url}/__stats`)).json()) as Record<string, number>;
    return Object.entries(counts).reduce((sum, [key, n]) => (key.startsWith('/flaky ') ? sum + n : sum), 0);
  };
  const pool = new Pool(url, poolOptions);
  const { client, registry } = newClient([url]);
  const outcomeOf = (error: unknown) => {
    if (error instanceof AppError) return `${error.status} ${error.code}`;
    throw error;
  };
  const variants: Array<[FailureRow['variant'], Call]> = [
    ['raw', async () => String(await rawGet(pool, '/flaky'))],
    ['policies', () => client.request({ path: '/flaky' }).then((r) => String(r.status), outcomeOf)],
  ];
  // A second of the same load first, unrecorded, so both start with open connections and compiled code.
  for (const [, call] of variants) await openLoop(call, { rate: failureRps, seconds: 1, maxInFlight: 512 }).catch(() => undefined);
  const rows: FailureRow[] = [];
  for (const [variant, call] of variants) {
    await stats();
    log(`10 % failures: ${variant}, ${failureRps}/s for ${failureSeconds} s`);
    const retriesBefore = await counterValue(registry, 'upstream_retries_total');
    const refusalsBefore = await counterValue(registry, 'upstream_retry_budget_exhausted_total');
    const load = await openLoop(call, { rate: failureRps, seconds: failureSeconds, maxInFlight: 512 });
    rows.push({
      variant,
      load,
      upstreamRequests: await stats(),
      retriesCounted: (await counterValue(registry, 'upstream_retries_total')) - retriesBefore,
      budgetRefusals: (await counterValue(registry, 'upstream_retry_budget_exhausted_total')) - refusalsBefore,
    });
  }
  await Promise.all([client.close(), pool.close()]);
  return rows;
}

// ---------- 3. stalled upstream through the gateway ----------

interface Phase {
  name: string;
  orders: 'healthy' | 'stalled' | 'recovering';
  catalog: OpenLoopResult;
  ordersLoad: OpenLoopResult;
  /** Requests each fake service received during the phase. */
  received: Record<string, number>;
  gatewayCpuMsPerSecond: number;
  /** CPU ms second by second of the gateway, the fake catalog (with the other services), the fake orders and each load generator. */
  cpuBySecond: Array<{ gateway: number; catalog: number; orders: number; catalogLoad: number; ordersLoad: number }>;
  /** Counters of the gateway's orders client over the phase. */
  ordersRetries: number;
  ordersBudgetRefusals: number;
  breakerAtEnd: string;
}

interface GatewayResult {
  catalogRate: number;
  measuredMaxRps: number;
  ordersRate: number;
  phases: Phase[];
  gatewayWarnLines: number;
}

/** A load generator child (generator.ts) aimed at `target`. */
async function generator(target: string, connections: number) {
  const { child } = await startChild<unknown>('bench/resilience/generator.ts', { ...process.env, TARGET: target, CONNECTIONS: String(connections) });
  let next = 0;
  const waiting = new Map<number, (result: OpenLoopResult) => void>();
  child.on('message', (message: { id: number; result: OpenLoopResult }) => waiting.get(message.id)?.(message.result));
  return {
    child,
    pid: child.pid!,
    run(path: string, rate: number, seconds: number, maxInFlight: number): Promise<OpenLoopResult> {
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.send({ id, path, rate, seconds, maxInFlight });
      });
    },
  };
}

async function gatewayMetrics(port: number): Promise<{ retries: number; refusals: number; breaker: string }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*upstream="orders"[^}]*\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  const breaker = ['closed', 'half-open', 'open', 'isolated'][value('upstream_circuit_state')] ?? '?';
  return { retries: value('upstream_retries_total'), refusals: value('upstream_retry_budget_exhausted_total'), breaker };
}

async function outage(): Promise<GatewayResult> {
  // Orders in a process of its own, as in production: its stall must not share an event loop with the catalog.
  const fakes = await startChild<{ ports: { catalog: number; others: number; control: number } }>('bench/resilience/fake-services.ts', { ...process.env, FAKE_SERVICES: 'catalog,other' });
  const fakeOrders = await startChild<{ ports: { orders: number; control: number } }>('bench/resilience/fake-services.ts', { ...process.env, FAKE_SERVICES: 'orders' });
  const ports = { ...fakes.ready.ports, orders: fakeOrders.ready.ports.orders };
  const fakesPid = fakes.child.pid!;
  const fakeOrdersPid = fakeOrders.child.pid!;
  const control = (path: string, method = 'POST') => fetch(`http://127.0.0.1:${fakeOrders.ready.ports.control}${path}`, { method }).then((r) => r.json());
  const catalogReceived = () => fetch(`http://127.0.0.1:${fakes.ready.ports.control}/stats`).then((r) => r.json() as Promise<{ received: Record<string, number> }>);
  const env: Record<string, string | undefined> = { ...process.env };
  // No broker (so no catalog cache: every catalog request reaches the fake), no Redis, no registry, no overrides.
  for (const name of ['BROKER_URL', 'REDIS_URL', 'REGISTRY_URL', 'CALL_POLICY_OVERRIDES', 'OTEL_EXPORTER_OTLP_ENDPOINT']) delete env[name];
  for (const service of routedServices) {
    const port = service === 'catalog' ? ports.catalog : service === 'orders' ? ports.orders : ports.others;
    env[serviceUrlVariable(service)] = `http://127.0.0.1:${port}`;
  }
  const gatewayPort = await freePort();
  Object.assign(env, {
    SERVICE_NAME: 'gateway',
    PORT: String(gatewayPort),
    HOST: '127.0.0.1',
    DISCOVERY: 'static',
    RATE_LIMIT_PER_MINUTE: '1000000000',
    RATE_LIMIT_PER_USER_PER_MINUTE: '1000000000',
    LOG_LEVEL: 'warn',
    UPSTREAM_TIMEOUT_MS: String(upstreamTimeoutMs),
  });
  const gateway = await startChild<unknown>('services/gateway/src/main.ts', env, 'pipe');
  let gatewayWarnLines = 0;
  gateway.child.stdout!.on('data', (chunk: Buffer) => (gatewayWarnLines += chunk.toString().split('\n').filter(Boolean).length));
  const gatewayPid = gateway.child.pid!;

  const base = `http://127.0.0.1:${gatewayPort}`;
  // One load generator process per route (see generator.ts); the probe runs from here, before them.
  const catalogLoad = await generator(base, 256);
  const ordersLoad = await generator(base, 1024);
  const catalogPath = '/api/catalog/products?pageSize=20';
  const ordersPath = '/api/orders';

  // Warm-up, then the gateway's ceiling on the catalog route (32 in flight): the steady rate is half of it.
  await Promise.all([catalogLoad.run(catalogPath, 500, 2, 256), ordersLoad.run(ordersPath, ordersRate, 2, 1024)]);
  const probePool = new Pool(base, { connections: 32 });
  const probe = await closedLoop(() => rawGet(probePool, catalogPath), 9000, 32);
  await probePool.close();
  const measuredMaxRps = 1e6 / probe.wallUs;
  const catalogRate = num('BENCH_CATALOG_RATE', Math.min(1500, Math.round(measuredMaxRps / 2 / 50) * 50));
  log(`gateway: catalog route closed loop ${Math.round(measuredMaxRps)} req/s → steady rate ${catalogRate}/s, orders ${ordersRate}/s`);

  if (warmUpOutage) {
    // See BENCH_WARMUP_OUTAGE: orders stalled for a moment, then healthy until the breaker has closed again; nothing recorded.
    log('gateway: warm-up stall of orders (not measured), 3 s, then recovery');
    await control('/orders/stall');
    await Promise.all([catalogLoad.run(catalogPath, catalogRate, 3, 256), ordersLoad.run(ordersPath, ordersRate, 3, 1024)]);
    await control('/orders/recover');
    await Promise.all([catalogLoad.run(catalogPath, catalogRate, 8, 256), ordersLoad.run(ordersPath, ordersRate, 8, 1024)]);
  }
  // The phases' own load for a moment, unrecorded, so phase A does not pay for what the probe left behind (garbage, idle connections).
  await Promise.all([catalogLoad.run(catalogPath, catalogRate, 2, 256), ordersLoad.run(ordersPath, ordersRate, 2, 1024)]);

  const phases: Phase[] = [];
  const runPhase = async (name: string, state: Phase['orders']) => {
    log(`gateway: phase ${name} (orders ${state}), ${phaseSeconds} s`);
    await control('/stats', 'GET');
    await catalogReceived();
    const before = await gatewayMetrics(gatewayPort);
    const pids = { gateway: gatewayPid, catalog: fakesPid, orders: fakeOrdersPid, catalogLoad: catalogLoad.pid, ordersLoad: ordersLoad.pid };
    const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([role, pid]) => [role, cpuMs(pid)])) as Record<keyof typeof pids, number>;
    const cpuBefore = cpuNow();
    const started = performance.now();
    // CPU time of each process second by second, to see where a bad second of the catalog route came from.
    const cpuBySecond: Phase['cpuBySecond'] = [];
    let last = cpuBefore;
    const sampler = setInterval(() => {
      const now = cpuNow();
      cpuBySecond.push(Object.fromEntries(Object.entries(now).map(([role, ms]) => [role, ms - last[role as keyof typeof pids]])) as Phase['cpuBySecond'][number]);
      last = now;
    }, 1000);
    const [catalogResult, ordersResult] = await Promise.all([catalogLoad.run(catalogPath, catalogRate, phaseSeconds, 256), ordersLoad.run(ordersPath, ordersRate, phaseSeconds, 1024)]);
    clearInterval(sampler);
    const elapsed = (performance.now() - started) / 1000;
    const after = await gatewayMetrics(gatewayPort);
    const received = { ...(await catalogReceived()).received, ...((await control('/stats', 'GET')) as { received: Record<string, number> }).received };
    phases.push({
      name,
      orders: state,
      catalog: catalogResult,
      ordersLoad: ordersResult,
      received,
      gatewayCpuMsPerSecond: (cpuMs(gatewayPid) - cpuBefore.gateway) / elapsed,
      cpuBySecond,
      ordersRetries: after.retries - before.retries,
      ordersBudgetRefusals: after.refusals - before.refusals,
      breakerAtEnd: after.breaker,
    });
  };
  await runPhase('A', 'healthy');
  for (let i = 1; i <= outages; i += 1) {
    const n = outages > 1 ? String(i) : '';
    await control('/orders/stall');
    await runPhase(`B${n}`, 'stalled');
    await control('/orders/recover');
    await runPhase(`C${n}`, 'recovering');
    await runPhase(`D${n}`, 'healthy');
  }

  catalogLoad.child.kill('SIGTERM');
  ordersLoad.child.kill('SIGTERM');
  gateway.child.kill('SIGTERM');
  fakes.child.kill('SIGTERM');
  fakeOrders.child.kill('SIGTERM');
  return { catalogRate, measuredMaxRps, ordersRate, phases, gatewayWarnLines };
}

// ---------- report ----------

const us = (v: number) => v.toFixed(1);
const ms = (v: number) => (Number.isNaN(v) ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en'));
const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
const quartiles = (values: number[]) => `${us(percentile(values, 0.25))} – ${us(percentile(values, 0.75))}`;

function overheadSummary(row: OverheadRow) {
  const added = row.policies.map((p, i) => p.wallUs - row.raw[i]!.wallUs);
  const addedCpu = row.policies.map((p, i) => p.cpuUs - row.raw[i]!.cpuUs);
  return {
    rawUs: median(row.raw.map((s) => s.wallUs)),
    policiesUs: median(row.policies.map((s) => s.wallUs)),
    addedUs: median(added),
    addedQuartiles: quartiles(added),
    rawCpuUs: median(row.raw.map((s) => s.cpuUs)),
    policiesCpuUs: median(row.policies.map((s) => s.cpuUs)),
    addedCpuUs: median(addedCpu),
    headersUs: row.rawWithHeaders.length ? median(row.rawWithHeaders.map((s, i) => s.wallUs - row.raw[i]!.wallUs)) : NaN,
  };
}

function overheadReport(rows: OverheadRow[]): string[] {
  const out = [
    `#### 1. Cost per call on the happy path (median of ${rounds} interleaved rounds; a round is ${serialCalls.toLocaleString('en')} serial or ${concurrentCalls.toLocaleString('en')} concurrent calls per variant)`,
    '',
    '| instances | calls in flight | raw undici Pool µs/call | UpstreamClient µs/call | **added µs/call** (quartiles over rounds) | of which request headers µs | client CPU µs/call raw → policies | added CPU µs/call |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const s = overheadSummary(row);
    out.push(
      `| ${row.instances} | ${row.width} | ${us(s.rawUs)} | ${us(s.policiesUs)} | **${us(s.addedUs)}** (${s.addedQuartiles}) | ${Number.isNaN(s.headersUs) ? '—' : us(s.headersUs)} | ${us(s.rawCpuUs)} → ${us(s.policiesCpuUs)} | ${us(s.addedCpuUs)} |`,
    );
  }
  return out;
}

function failureReport(rows: FailureRow[]): string[] {
  const out = [
    `#### 2. Dependency answering 503 to ${Math.round(failureRate * 100)} % of requests (open loop, ${failureRps.toLocaleString('en')} calls/s for ${failureSeconds} s each; default call policy: 3 attempts, backoff 25 ms base with full jitter, retry budget 20 % + 5/s)`,
    '',
    '| variant | calls | success (2xx) | failures by answer | upstream requests per call | retries per call | p50 ms | p99 ms | max ms |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const l = row.load;
    const ok = l.outcomes['200'] ?? 0;
    const failed = Object.entries(l.outcomes).filter(([k]) => k !== '200').map(([k, n]) => `${k}: ${n}`).join(', ') || '—';
    const retries = row.variant === 'raw' ? '—' : `${(row.retriesCounted / l.scheduled).toFixed(3)}${row.budgetRefusals ? ` (${row.budgetRefusals} refused by the budget)` : ''}`;
    out.push(
      `| ${row.variant === 'raw' ? 'raw undici Pool' : 'UpstreamClient'} | ${l.scheduled.toLocaleString('en')} | ${pct(ok / l.scheduled)} | ${failed} | ${(row.upstreamRequests / l.scheduled).toFixed(3)} | ${retries} | ${ms(percentile(l.latencies, 0.5))} | ${ms(percentile(l.latencies, 0.99))} | ${ms(percentile(l.latencies, 1))} |`,
    );
  }
  return out;
}

/** The median over the phase's seconds of each second's p99: a view of the tail that one stall of the machine does not decide. */
const secondlyP99 = (load: OpenLoopResult) => median(load.latenciesBySecond.filter((v) => v.length).map((v) => percentile(v, 0.99)));

function outageReport(gateway: GatewayResult): string[] {
  const out = [
    `#### 3. Orders stalled behind the real gateway (UPSTREAM_TIMEOUT_MS=${upstreamTimeoutMs}; catalog at ${gateway.catalogRate.toLocaleString('en')} req/s${process.env['BENCH_CATALOG_RATE'] ? ' (BENCH_CATALOG_RATE)' : ` — half the ${Math.round(gateway.measuredMaxRps).toLocaleString('en')} req/s the gateway did closed-loop on that route here, at most 1,500`} — and orders at ${gateway.ordersRate}/s, both open loop, ${phaseSeconds} s per phase; ${warmUpOutage ? 'after an unmeasured 3 s warm-up stall of orders and its recovery (BENCH_WARMUP_OUTAGE=1: the first failures of a fresh process deoptimize its hot path)' : 'no warm-up stall (BENCH_WARMUP_OUTAGE=0): the first stall is the fresh process’s first failures'})`,
    '',
    '| phase | orders | catalog p50 ms | catalog p99 ms | median of the per-second catalog p99s ms | catalog max ms | catalog non-200 | orders answers | requests that reached orders | gateway CPU ms/s | orders breaker at end |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|',
  ];
  for (const p of gateway.phases) {
    const catalogFailures = p.catalog.scheduled - (p.catalog.outcomes['200'] ?? 0);
    const answers = Object.entries(p.ordersLoad.outcomes).map(([k, n]) => `${k}: ${n}`).join(', ');
    out.push(
      `| ${p.name} | ${p.orders} | ${ms(percentile(p.catalog.latencies, 0.5))} | ${ms(percentile(p.catalog.latencies, 0.99))} | ${ms(secondlyP99(p.catalog))} | ${ms(percentile(p.catalog.latencies, 1))} | ${catalogFailures} | ${answers} | ${p.received['orders'] ?? 0} | ${Math.round(p.gatewayCpuMsPerSecond)} | ${p.breakerAtEnd} |`,
    );
  }
  const b = gateway.phases.find((p) => p.orders === 'stalled');
  if (b) {
    const kinds = Object.keys(b.ordersLoad.outcomes);
    out.push(
      '',
      `Phase ${b.name} second by second (by when the request was sent): what orders callers got, and the catalog route meanwhile:`,
      '',
      `| second | ${kinds.map((k) => `orders ${k}`).join(' | ')} | catalog p50 ms | catalog p99 ms | gateway CPU ms |`,
      `|---:|${kinds.map(() => '---:').join('|')}|---:|---:|---:|`,
    );
    b.ordersLoad.bySecond.forEach((slot, i) => {
      const catalog = b.catalog.latenciesBySecond[i] ?? [];
      out.push(`| ${i} | ${kinds.map((k) => slot[k] ?? 0).join(' | ')} | ${ms(percentile(catalog, 0.5))} | ${ms(percentile(catalog, 0.99))} | ${b.cpuBySecond[i]?.gateway ?? '—'} |`);
    });
    out.push(`| latency p50 / p99 ms | ${kinds.map((k) => { const l = b.ordersLoad.latenciesByOutcome[k] ?? []; return `${ms(percentile(l, 0.5))} / ${ms(percentile(l, 0.99))}`; }).join(' | ')} | | | |`);
    out.push('', `The gateway's orders client in phase ${b.name}: ${b.ordersRetries} retried attempts got past the breaker, ${b.ordersBudgetRefusals} retries refused by the retry budget.`);
  }
  for (const c of gateway.phases.filter((p) => p.orders === 'recovering')) {
    const first = c.ordersLoad.bySecond.findIndex((slot) => (slot['200'] ?? 0) > 0);
    out.push(`Phase ${c.name} (orders healthy again): the first 200 from orders came for a request sent in second ${first < 0 ? '— (none)' : first} of the phase.`);
  }
  return out;
}

interface Bars {
  addedUs?: number;
  addedMet?: boolean;
  catalogP99Ratio?: number;
  catalogSecondlyP99Ratio?: number;
  /** The median of the outages' own ratios, each against its neighbours (the bar's figure until 2026-11-22). */
  catalogP99RatioMedianOfOutages?: number;
  /** The pooled p99 of alternate healthy phases against the others: how far the figure moves with no outage at all. */
  healthyAgainstHealthyP99Ratio?: number;
  outageMet?: boolean;
}

/**
 * For each stalled phase, its catalog latencies against the healthy phases just
 * before and just after it, pooled: neighbours in time, so the machine's drift
 * over the run (the first phase is the coldest) does not decide the ratio.
 */
function outageComparisons(phases: Phase[]) {
  return phases.flatMap((stalled, i) => {
    if (stalled.orders !== 'stalled') return [];
    const healthy = neighbours(phases, i);
    if (healthy.length === 0) return [];
    const pooled = { latencies: healthy.flatMap((p) => p.catalog.latencies), latenciesBySecond: healthy.flatMap((p) => p.catalog.latenciesBySecond) } as Phase['catalog'];
    const healthyP99 = percentile(pooled.latencies, 0.99);
    const stalledP99 = percentile(stalled.catalog.latencies, 0.99);
    return [
      {
        stalled: stalled.name,
        healthy: healthy.map((p) => p.name),
        healthyP99,
        stalledP99,
        p99: stalledP99 / healthyP99,
        p50: percentile(stalled.catalog.latencies, 0.5) / percentile(pooled.latencies, 0.5),
        secondlyP99: secondlyP99(stalled.catalog) / secondlyP99(pooled),
      },
    ];
  });
}

/** The healthy phases just before and just after phase `i`. */
function neighbours(phases: Phase[], i: number): Phase[] {
  const before = phases.slice(0, i).reverse().find((p) => p.orders === 'healthy');
  const after = phases.slice(i + 1).find((p) => p.orders === 'healthy');
  return [before, after].filter((p): p is Phase => p !== undefined);
}

/**
 * The bar's figure: every catalog latency recorded while orders was stalled, pooled
 * over the outages, against every one recorded in the healthy phases around them.
 * One phase's p99 rests on its slowest 150 requests, and a single stall of the
 * machine (these share 2 cores with 4 other processes) moves it by ×2 either way;
 * pooled, the tail is the outages' tail, not one bad second's. The same statistic
 * between the healthy phases alone (alternate ones against the rest) is the noise
 * floor the ratio is read against.
 */
function pooledOutage(phases: Phase[]) {
  const stalled = phases.filter((p) => p.orders === 'stalled');
  const healthy = [...new Set(phases.flatMap((p, i) => (p.orders === 'stalled' ? neighbours(phases, i) : [])))];
  if (stalled.length === 0 || healthy.length === 0) return undefined;
  const p99 = (group: Phase[]) => percentile(group.flatMap((p) => p.catalog.latencies), 0.99);
  const stalledP99 = p99(stalled);
  const healthyP99 = p99(healthy);
  const odd = healthy.filter((_, i) => i % 2 === 1);
  const even = healthy.filter((_, i) => i % 2 === 0);
  return {
    stalled: stalled.map((p) => p.name),
    healthy: healthy.map((p) => p.name),
    stalledP99,
    healthyP99,
    ratio: stalledP99 / healthyP99,
    noiseFloor: odd.length > 0 ? { first: even.map((p) => p.name), second: odd.map((p) => p.name), ratio: p99(odd) / p99(even) } : undefined,
  };
}

function barChecks(rows: OverheadRow[] | undefined, failureRows: FailureRow[] | undefined, gateway: GatewayResult | undefined): { markdown: string[]; bars: Bars } {
  const out = ['#### Bar checks', ''];
  const bars: Bars = {};
  if (rows) {
    const single = rows.filter((r) => r.instances === 1).map((r) => ({ row: r, s: overheadSummary(r) }));
    const worst = Math.max(...single.map((x) => x.s.addedUs));
    const two = rows.filter((r) => r.instances === 2).map((r) => `${r.mode} ${us(overheadSummary(r).addedUs)} µs`);
    bars.addedUs = worst;
    bars.addedMet = worst <= BAR_ADDED_US;
    out.push(
      `- ≤ ${BAR_ADDED_US} µs added per call on the happy path (one instance): ${single.map((x) => `${x.row.mode} ${us(x.s.addedUs)} µs`).join(', ')} → **${bars.addedMet ? 'met' : 'NOT met'}**${two.length ? ` (two instances: ${two.join(', ')})` : ''}.`,
    );
  }
  const comparisons = gateway ? outageComparisons(gateway.phases) : [];
  const pooled = gateway ? pooledOutage(gateway.phases) : undefined;
  if (pooled && comparisons.length > 0) {
    bars.catalogP99Ratio = pooled.ratio;
    bars.catalogP99RatioMedianOfOutages = median(comparisons.map((c) => c.p99));
    bars.catalogSecondlyP99Ratio = median(comparisons.map((c) => c.secondlyP99));
    if (pooled.noiseFloor) bars.healthyAgainstHealthyP99Ratio = pooled.noiseFloor.ratio;
    bars.outageMet = bars.catalogP99Ratio < 1 + BAR_P99_RISE;
    const each = comparisons.map((c) => `${c.stalled}: ${ms(c.healthyP99)} → ${ms(c.stalledP99)} ms ×${c.p99.toFixed(2)} (against ${c.healthy.join(' and ')} pooled; p50 ×${c.p50.toFixed(2)}; per-second p99s ×${c.secondlyP99.toFixed(2)})`);
    const floor = pooled.noiseFloor ? ` Noise floor, the same statistic between healthy phases alone (${pooled.noiseFloor.second.join(', ')} against ${pooled.noiseFloor.first.join(', ')}): ×${pooled.noiseFloor.ratio.toFixed(2)}.` : '';
    out.push(
      `- Under an upstream outage, p99 of an unrelated route rises by less than ${BAR_P99_RISE * 100} %: catalog p99 over the ${comparisons.length === 1 ? 'stalled phase' : `${comparisons.length} stalled phases`} pooled (${pooled.stalled.join(', ')}) against the healthy phases around them pooled (${pooled.healthy.join(', ')}): ${ms(pooled.healthyP99)} → ${ms(pooled.stalledP99)} ms, **×${pooled.ratio.toFixed(2)} → ${bars.outageMet ? 'met' : 'NOT met'}**.${floor} Outage by outage (median ×${bars.catalogP99RatioMedianOfOutages.toFixed(2)}; median of the per-second p99s ×${bars.catalogSecondlyP99Ratio.toFixed(2)}): ${each.join('; ')}.`,
    );
  }
  const policyRow = failureRows?.find((r) => r.variant === 'policies');
  const rawRow = failureRows?.find((r) => r.variant === 'raw');
  if (policyRow && rawRow) {
    out.push(
      `- With ${Math.round(failureRate * 100)} % of answers failing (not a bar): success ${pct((rawRow.load.outcomes['200'] ?? 0) / rawRow.load.scheduled)} raw → ${pct((policyRow.load.outcomes['200'] ?? 0) / policyRow.load.scheduled)} with the policies, at ${(policyRow.upstreamRequests / policyRow.load.scheduled - 1).toFixed(3)} extra upstream requests per call; p99 ${ms(percentile(rawRow.load.latencies, 0.99))} → ${ms(percentile(policyRow.load.latencies, 0.99))} ms (the backoff before a retry).`,
    );
  }
  return { markdown: out, bars };
}

// ---------- main ----------

async function main(): Promise<void> {
  const began = Date.now();
  const loadBefore = loadavg()[0]!;
  const ticksBefore = machineTicks();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.toString().trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'packages', 'services'], { cwd: root }).stdout.toString().trim() !== '';

  let overheadRows: OverheadRow[] | undefined;
  let failureRows: FailureRow[] | undefined;
  let gateway: GatewayResult | undefined;
  if (parts.has('overhead') || parts.has('failures')) {
    const dependency = await startChild<{ ports: number[] }>('bench/resilience/dependency.ts', { ...process.env, FAILURE_RATE: String(failureRate) });
    if (parts.has('overhead')) overheadRows = await overhead(dependency.ready.ports);
    if (parts.has('failures')) failureRows = await failures(dependency.ready.ports[0]!);
    dependency.child.kill('SIGTERM');
  }
  if (parts.has('outage')) gateway = await outage();

  const ticksAfter = machineTicks();
  const share = (key: 'idle' | 'steal') => Math.round((100 * (ticksAfter[key] - ticksBefore[key])) / (ticksAfter.total - ticksBefore.total));
  const when = new Date();
  const settings = {
    BENCH_PARTS: [...parts].join(','),
    BENCH_ROUNDS: rounds,
    BENCH_SERIAL_CALLS: serialCalls,
    BENCH_CONCURRENT_CALLS: concurrentCalls,
    BENCH_CONCURRENCY: concurrency,
    BENCH_FAILURE_RATE: failureRate,
    BENCH_FAILURE_RPS: failureRps,
    BENCH_FAILURE_SECONDS: failureSeconds,
    BENCH_PHASE_SECONDS: phaseSeconds,
    ...(gateway ? { BENCH_CATALOG_RATE: gateway.catalogRate } : {}),
    BENCH_ORDERS_RATE: ordersRate,
    BENCH_UPSTREAM_TIMEOUT_MS: upstreamTimeoutMs,
    BENCH_OUTAGES: outages,
    BENCH_WARMUP_OUTAGE: warmUpOutage ? 1 : 0,
  };
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const conditions = `load average (1 min) ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; over the run the machine's CPU time was ${share('idle')} % idle and ${share('steal')} % stolen by the hypervisor; the run took ${Math.round((Date.now() - began) / 1000)} s`;
  const checks = barChecks(overheadRows, failureRows, gateway);
  const sections = [overheadRows && overheadReport(overheadRows), failureRows && failureReport(failureRows), gateway && outageReport(gateway), checks.markdown].filter((x): x is string[] => x !== undefined);
  const header = [
    `Run: \`npm run bench:resilience\` (${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(', ')}), ${when.toISOString().slice(0, 16)}Z, commit ${commit}${dirty ? ' (with uncommitted changes in packages/ or services/)' : ''}`,
    `Machine: ${machine}; this process (the clients of parts 1 and 2), the dependency, the gateway, the fake services and the load generators of part 3 share the cores; ${conditions}.`,
  ];
  process.stdout.write([header, ...sections].map((lines) => lines.join('\n')).join('\n\n') + '\n');

  const resultsDir = join(root, 'bench/resilience/results');
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `${when.toISOString().slice(0, 19).replaceAll(':', '-')}Z.json`);
  const summary = (l: OpenLoopResult) => ({
    rate: l.rate,
    seconds: l.seconds,
    scheduled: l.scheduled,
    notSent: l.notSent,
    outcomes: l.outcomes,
    p50Ms: percentile(l.latencies, 0.5),
    p90Ms: percentile(l.latencies, 0.9),
    p99Ms: percentile(l.latencies, 0.99),
    maxMs: percentile(l.latencies, 1),
    byOutcome: Object.fromEntries(Object.entries(l.latenciesByOutcome).map(([k, v]) => [k, { p50Ms: percentile(v, 0.5), p99Ms: percentile(v, 0.99) }])),
    bySecond: l.bySecond,
    latencyBySecond: l.latenciesBySecond.map((v) => ({ p50Ms: percentile(v, 0.5), p99Ms: percentile(v, 0.99), maxMs: percentile(v, 1) })),
    generatorLagP99Ms: l.lagP99Ms,
  });
  const json = {
    date: when.toISOString(),
    commit,
    dirty,
    machine,
    conditions,
    settings,
    bars: checks.bars,
    overhead: overheadRows?.map((row) => ({ instances: row.instances, mode: row.mode, inFlight: row.width, callsPerRound: row.calls, ...overheadSummary(row), rounds: { raw: row.raw, policies: row.policies, rawWithHeaders: row.rawWithHeaders } })),
    failures: failureRows?.map((row) => ({ variant: row.variant, ...summary(row.load), upstreamRequests: row.upstreamRequests, upstreamRequestsPerCall: row.upstreamRequests / row.load.scheduled, retries: row.retriesCounted, budgetRefusals: row.budgetRefusals })),
    outage: gateway && {
      upstreamTimeoutMs,
      catalogRate: gateway.catalogRate,
      measuredMaxRps: gateway.measuredMaxRps,
      ordersRate: gateway.ordersRate,
      gatewayLogLinesAtWarn: gateway.gatewayWarnLines,
      phases: gateway.phases.map((p) => ({ name: p.name, orders: p.orders, catalog: summary(p.catalog), ordersLoad: summary(p.ordersLoad), received: p.received, gatewayCpuMsPerSecond: p.gatewayCpuMsPerSecond, cpuBySecond: p.cpuBySecond, ordersRetries: p.ordersRetries, ordersBudgetRefusals: p.ordersBudgetRefusals, breakerAtEnd: p.breakerAtEnd })),
    },
  };
  await writeFile(file, JSON.stringify(json, null, 2) + '\n');
  log(`results written to ${file}`);
}

main().then(
  () => {
    stopChildren();
    process.exit(0);
  },
  (error: unknown) => {
    stopChildren();
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  },
);
