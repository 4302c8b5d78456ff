/**
 * npm run bench:checkout:ab -- --base <git ref> — the saga checkout of two trees, side by
 * side on fresh systems in alternating rounds: the working tree against <ref> (checked
 * out in a temporary git worktree that shares this tree's installed packages, its own
 * @bazaar workspaces linked in). Hosts drift by more than most changes move a checkout,
 * so a change is judged against its base in the same run, round by round.
 *
 * Each round and tree: `npm start`'s launcher on a fresh state folder, 16 customers, an
 * unmeasured warm-up (8 clients, 6 s), then closed loops of 1 and 16 clients (uncontended
 * latency, throughput). Besides checkout-to-confirmed latency and confirmed checkouts/s it
 * reads, machine-wide over each loop, context switches and busy CPU per confirmed checkout
 * (/proc/stat: every process on the host, the load generator included). Prints markdown.
 *
 * Options (env): BENCH_ROUNDS (3), BENCH_SECONDS per loop (12), BENCH_WARMUP_SECONDS (2),
 * BENCH_CONCURRENCY (1,16).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { closedLoop, summarize } from './load.ts';
import { closeClients, openShop, sagaCheckout } from './saga.ts';
import { basket } from './monolith.ts';
import { machineTicks } from '../proc.ts';

const { values: flags } = parseArgs({ options: { base: { type: 'string' } }, strict: true });
if (!flags.base) throw new Error('usage: npm run bench:checkout:ab -- --base <git ref>');
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 12);
const warmUpSeconds = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 2);
const concurrencies = (process.env['BENCH_CONCURRENCY'] ?? '1,16').split(',').map(Number);
const here = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const log = (message: string) => process.stderr.write(`bench: ${new Date().toISOString().slice(11, 19)} ${message}\n`);

interface Reading {
  clients: number;
  perSecond: number;
  p50: number;
  p95: number;
  contextSwitches: number;
  busyCpuMs: number;
}

/** A worktree of `ref` that runs on this tree's installed packages, with its own workspaces linked. */
function worktree(ref: string, dir: string): string {
  execFileSync('git', ['-C', here, 'worktree', 'add', '--detach', '--quiet', dir, ref]);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@bazaar'), { recursive: true });
  for (const entry of readdirSync(join(here, 'node_modules'))) {
    if (entry !== '@bazaar') symlinkSync(join(here, 'node_modules', entry), join(modules, entry));
  }
  for (const workspace of readdirSync(join(here, 'node_modules/@bazaar'))) {
    const target = ['packages', 'services'].map((kind) => join(dir, kind, workspace)).find((path) => existsSync(path));
    if (target) symlinkSync(relative(join(modules, '@bazaar'), target), join(modules, '@bazaar', workspace));
  }
  return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD']).toString().trim();
}

/** One fresh system of the tree at `root`, driven through its gateway. */
async function measure(root: string): Promise<Reading[]> {
  const { startSystem, stopSystem, adminLogin } = await import(join(root, 'packages/runtime/src/testing/launcher.ts'));
  const { freePort } = await import(join(root, 'packages/runtime/src/ports.ts'));
  const state = await mkdtemp(join(tmpdir(), 'bazaar-ab-'));
  const system = await startSystem(state, await freePort());
  try {
    const shop = await openShop(system.gateway, adminLogin(system), { customers: 16, productCount: 10, stock: 100_000_000 });
    const checkout = sagaCheckout(shop, basket(shop.products), 'sse');
    await closedLoop(checkout, { concurrency: 8, seconds: 6, warmUpSeconds: 0, timeoutMs: 30_000 });
    const readings: Reading[] = [];
    for (const clients of concurrencies) {
      const before = machineTicks();
      const phase = await closedLoop(checkout, { concurrency: clients, seconds, warmUpSeconds, timeoutMs: 30_000 });
      const after = machineTicks();
      const summary = summarize(phase);
      // Counters cover the whole loop, warm-up included: divide by every checkout confirmed in it.
      const confirmed = phase.attempts.filter((a) => a.outcome === 'confirmed').length;
      readings.push({
        clients,
        perSecond: summary.confirmedPerSecond,
        p50: summary.p50,
        p95: summary.p95,
        contextSwitches: (after.contextSwitches - before.contextSwitches) / confirmed,
        busyCpuMs: ((after.total - after.idle - (before.total - before.idle)) * 10) / confirmed,
      });
    }
    return readings;
  } finally {
    await stopSystem(system);
    await rm(state, { recursive: true, force: true }).catch(() => {});
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '∞');

/** Host facts that move these figures between machines of the same name (see docs/benchmarks.md). */
function hostNotes(): string {
  const damon = '/sys/kernel/mm/damon/admin/kdamonds/0/state';
  const state = existsSync(damon) ? readFileSync(damon, 'utf8').trim() : 'absent';
  const perf = spawnSync('perf', ['stat', '-e', 'instructions:u', '--', 'true'], { encoding: 'utf8' });
  const counters = perf.error ? 'perf absent' : /not supported/.test(perf.stderr) ? 'perf counters not supported' : 'perf counters available';
  return `DAMON (kdamond) ${state}; ${counters}`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bazaar-ab-base-'));
  const baseCommit = worktree(flags.base!, dir);
  const head = execFileSync('git', ['-C', here, 'rev-parse', '--short', 'HEAD']).toString().trim();
  const dirty = execFileSync('git', ['-C', here, 'status', '--porcelain', '--', 'packages', 'services']).toString().trim() !== '';
  const trees = [
    { name: `base ${baseCommit}`, root: dir },
    { name: `this tree ${head}${dirty ? ' (uncommitted changes)' : ''}`, root: here },
  ];
  const results = new Map<string, Reading[][]>(trees.map((t) => [t.name, []]));
  try {
    for (let round = 1; round <= rounds; round += 1) {
      // Alternate which goes first, so neither always runs on the warmer (or more drifted) host.
      const order = round % 2 === 1 ? trees : [...trees].reverse();
      for (const tree of order) {
        log(`round ${round}/${rounds}: ${tree.name}`);
        const readings = await measure(tree.root);
        results.get(tree.name)!.push(readings);
        for (const r of readings) log(`  ${r.clients} client(s): ${fmt(r.perSecond)}/s, p50 ${fmt(r.p50)} ms, p95 ${fmt(r.p95)} ms, ${fmt(r.contextSwitches, 0)} cs and ${fmt(r.busyCpuMs)} ms CPU per checkout`);
      }
    }
  } finally {
    await closeClients().catch(() => {});
    execFileSync('git', ['-C', here, 'worktree', 'remove', '--force', dir]);
  }

  const lines = [
    `Run: \`npm run bench:checkout:ab -- --base ${flags.base}\` (BENCH_ROUNDS=${rounds}, BENCH_SECONDS=${seconds}, BENCH_CONCURRENCY=${concurrencies.join(',')}), ${new Date().toISOString().slice(0, 16)}Z`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${hostNotes()}. Embedded broker; load generator, services and PostgreSQL share the cores; context switches and CPU are the whole machine's.`,
    '',
    '| tree | clients | confirmed/s (median) | p50 ms (median) | p95 ms (median) | context switches per checkout | busy CPU ms per checkout | rounds: p50 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const clients of concurrencies) {
    for (const tree of trees) {
      const of = results.get(tree.name)!.map((readings) => readings.find((r) => r.clients === clients)!);
      lines.push(
        `| ${tree.name} | ${clients} | ${fmt(median(of.map((r) => r.perSecond)))} | ${fmt(median(of.map((r) => r.p50)))} | ${fmt(median(of.map((r) => r.p95)))} | ${fmt(median(of.map((r) => r.contextSwitches)), 0)} | ${fmt(median(of.map((r) => r.busyCpuMs)))} | ${of.map((r) => fmt(r.p50)).join(', ')} |`,
      );
    }
  }
  // The same host drifts between rounds: a ratio is taken within each round, then their median.
  const [base, changed] = trees.map((tree) => results.get(tree.name)!);
  lines.push(
    '',
    `| clients | confirmed/s, this ÷ base | p50, this ÷ base | busy CPU per checkout, this ÷ base | context switches per checkout, this ÷ base | rounds: p50 ratio |`,
    '|---:|---:|---:|---:|---:|---|',
  );
  for (const clients of concurrencies) {
    const pairs = base!.map((readings, round) => [readings.find((r) => r.clients === clients)!, changed![round]!.find((r) => r.clients === clients)!] as const);
    const ratio = (pick: (r: Reading) => number) => pairs.map(([b, c]) => pick(c) / pick(b));
    lines.push(
      `| ${clients} | ${fmt(median(ratio((r) => r.perSecond)), 2)} | ${fmt(median(ratio((r) => r.p50)), 2)} | ${fmt(median(ratio((r) => r.busyCpuMs)), 2)} | ${fmt(median(ratio((r) => r.contextSwitches)), 2)} | ${ratio((r) => r.p50)
        .map((x) => fmt(x, 2))
        .join(', ')} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
