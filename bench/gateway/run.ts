/**
 * npm run bench:gateway — the gateway against its baselines, interleaved in one run.
 *
 *   direct   wrk → upstream
 *   gateway  wrk → Bazaar gateway (JWT verification on) → upstream
 *   nginx    wrk → nginx (1 worker, keep-alive upstream) → upstream
 *   traced   wrk → gateway recording every request, exported to the trace console
 *            (as `npm start` runs it) → upstream; the trivial upstream only
 *
 * for a trivial upstream and for the catalog's product list (real PostgreSQL).
 * Throughput at fixed concurrency, latency at concurrency 1 (added p50/p99 vs
 * direct), CPU time per request per process from /proc. Then `npm start` cold and
 * warm start times and each process's memory. Prints markdown for docs/benchmarks.md.
 *
 * Options (env): BENCH_SECONDS (default 8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
 * BENCH_PARTS (trivial,catalog,startup: a subset runs only those). On the trivial
 * upstream every round starts its own processes (see `compare`); the catalog part
 * keeps one set (its PostgreSQL and seeded catalog) for all rounds.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createDatabaseIfMissing, databaseUrl } from '@bazaar/chassis';
import { startEmbeddedPostgres } from '@bazaar/runtime/embedded-postgres';
import { freePort } from '@bazaar/runtime/ports';

const root = fileURLToPath(new URL('../../', import.meta.url));
const seconds = Number(process.env['BENCH_SECONDS'] ?? 8);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
/** Which parts to run (all by default): trivial, catalog, startup. */
const parts = new Set((process.env['BENCH_PARTS'] ?? 'trivial,catalog,startup').split(',').map((p) => p.trim()));
const children: ChildProcess[] = [];
const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

// ---------- processes ----------

function startNode(entry: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${entry} exited ${code}`)));
  });
}

/** Sends SIGTERM and resolves once the child has exited. */
function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}

async function startNginx(port: number, upstreamPort: number, dir: string): Promise<number[]> {
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; # the gateway logs only failed and slow proxied requests by default (ACCESS_LOG=errors)
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = spawn(nginxBinary(), ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;'], { stdio: 'inherit' });
  children.push(child);
  await waitForPort(port);
  const pids = execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim().split('\n').map(Number);
  return [child.pid!, ...pids];
}

function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      /* try the next */
    }
  }
  log('nginx not found; installing it from Debian packages');
  execFileSync('apt-get', ['install', '-y', '-qq', 'nginx-light'], { stdio: 'inherit' });
  return '/usr/sbin/nginx';
}

function ensureWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') return; // wrk --version exits 1 but exists
    log('wrk not found; installing it from Debian packages');
    execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'inherit' });
  }
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

// ---------- measurement ----------

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
  } catch {
    return 0;
  }
}

interface WrkResult {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

function wrk(url: string, concurrency: number, duration: number, header?: string): WrkResult {
  const args = ['-t1', `-c${concurrency}`, `-d${duration}s`, '--latency'];
  if (header) args.push('-H', header);
  const out = execFileSync('wrk', [...args, url]).toString();
  const ms = (label: string) => {
    const match = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!match) return NaN;
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), requests, p50: ms('50'), p99: ms('99'), errors };
}

interface Variant {
  name: string;
  url: string;
  header?: string;
  /** Processes whose CPU time counts against this variant, by role. */
  processes: Record<string, number[]>;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuPerRequestUs: Record<string, number>;
}

function measure(variant: Variant): Sample {
  const before = Object.fromEntries(Object.entries(variant.processes).map(([role, pids]) => [role, pids.reduce((a, p) => a + cpuTicks(p), 0)]));
  const load = wrk(variant.url, connections, seconds, variant.header);
  const cpuPerRequestUs = Object.fromEntries(
    Object.entries(variant.processes).map(([role, pids]) => [role, ((pids.reduce((a, p) => a + cpuTicks(p), 0) - before[role]!) * 10_000) / Math.max(1, load.requests)]),
  );
  const latency = wrk(variant.url, 1, Math.max(3, Math.round(seconds / 2)), variant.header);
  return { rps: load.rps, p50: latency.p50, p99: latency.p99, errors: load.errors + latency.errors, cpuPerRequestUs };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The processes of one comparison: its variants (direct first) and how to stop them. */
interface Setup {
  variants: Variant[];
  stop(): Promise<void> | void;
}

/**
 * Rounds of every variant in turn. With `fresh`, each round starts its own
 * processes (and stops them after): one Node process's JIT can settle into code
 * that costs ~20 % more instructions per request than another's running the same
 * code (seen with `perf stat` on several gateways and on plain node:http servers,
 * most of the difference in `process.nextTick`), and it keeps that for its life;
 * a ratio from one set of processes is then that draw's ratio. Fresh processes per
 * round sample it; the median is over rounds.
 */
async function compare(title: string, setup: () => Promise<Setup>, fresh: boolean): Promise<string> {
  const samples = new Map<string, Sample[]>();
  let variants: Variant[] = [];
  let running: Setup | undefined;
  for (let round = 1; round <= rounds; round++) {
    if (!running) {
      running = await setup();
      variants = running.variants;
      for (const variant of variants) wrk(variant.url, connections, 5, variant.header); // warm-up: JIT, pools, JWKS
    }
    for (const variant of variants) {
      log(`${title}: round ${round}/${rounds}${fresh ? ' (fresh processes)' : ''}, ${variant.name}`);
      if (!samples.has(variant.name)) samples.set(variant.name, []);
      samples.get(variant.name)!.push(measure(variant));
    }
    if (fresh || round === rounds) {
      await running.stop();
      running = undefined;
    }
  }
  const direct = samples.get(variants[0]!.name)!;
  const directRps = median(direct.map((s) => s.rps));
  const directP50 = median(direct.map((s) => s.p50));
  const directP99 = median(direct.map((s) => s.p99));
  const lines = [
    `### ${title}`,
    '',
    `| variant | req/s (median of ${rounds}${fresh ? ', fresh processes each round' : ''}) | × direct | p50 ms (c=1) | added p50 ms | p99 ms (c=1) | added p99 ms | CPU µs/request by process | errors |`,
    '|---|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const variant of variants) {
    const s = samples.get(variant.name)!;
    const rps = median(s.map((x) => x.rps));
    const p50 = median(s.map((x) => x.p50));
    const p99 = median(s.map((x) => x.p99));
    const cpu = Object.keys(variant.processes).map((role) => `${role} ${median(s.map((x) => x.cpuPerRequestUs[role]!)).toFixed(1)}`).join(', ');
    const errors = s.reduce((a, x) => a + x.errors, 0);
    const isDirect = variant === variants[0];
    lines.push(
      `| ${variant.name} | ${Math.round(rps).toLocaleString('en')} | ${(rps / directRps).toFixed(2)} | ${p50.toFixed(3)} | ${isDirect ? '—' : (p50 - directP50).toFixed(3)} | ${p99.toFixed(3)} | ${isDirect ? '—' : (p99 - directP99).toFixed(3)} | ${cpu} | ${errors} |`,
    );
  }
  // Round by round, each against direct in the same round: how far one draw of processes is from another.
  lines.push('', `Round by round, × direct in the same round: ${variants.slice(1).map((variant) => `${variant.name} ${samples.get(variant.name)!.map((x, i) => (x.rps / direct[i]!.rps).toFixed(2)).join(', ')}`).join('; ')}.`);
  return lines.join('\n');
}

// ---------- startup ----------

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

async function startupRun(stateDir: string, port: number): Promise<{ seconds: number; memory: Array<[string, number]> }> {
  const started = Date.now();
  const child = spawn(process.execPath, [join(root, 'packages/runtime/src/start.ts'), '--state', stateDir, '--port', String(port)], {
    env: { ...process.env, NO_COLOR: '1', BAZAAR_ADMIN_PASSWORD: 'bench-admin-password-123', BAZAAR_TRACE_CONSOLE: 'off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Press Ctrl-C to stop.')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`launcher exited ${code}`)));
  });
  const elapsed = (Date.now() - started) / 1000;
  const memory: Array<[string, number]> = [['launcher', rssMb(child.pid!)]];
  for (const match of output.matchAll(/^\s+(\w+)\s+\S+\s+\(pid (\d+)/gm)) memory.push([match[1]!, rssMb(Number(match[2]))]);
  const gatewayPid = execFileSync('pgrep', ['-f', 'services/gateway/src/main.ts']).toString().trim().split('\n').map(Number).find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`PORT=${port}`));
  if (gatewayPid) memory.push(['gateway', rssMb(gatewayPid)]);
  const postgresPids = execFileSync('pgrep', ['-f', join(stateDir, 'postgres')]).toString().trim().split('\n').map(Number);
  const postmasterPid = postgresPids[0];
  const backends = postmasterPid ? execFileSync('pgrep', ['-P', String(postmasterPid)]).toString().trim().split('\n').map(Number) : [];
  memory.push([`postgres (postmaster + ${backends.length} children)`, [postmasterPid!, ...backends].reduce((a, p) => a + rssMb(p), 0)]);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { seconds: elapsed, memory };
}

// ---------- main ----------

async function main(): Promise<void> {
  ensureWrk();
  const work = await mkdtemp(join(tmpdir(), 'bazaar-bench-'));
  const report: string[] = [];
  try {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA', use: 'sig' }] });
    const token = await new SignJWT({ email: 'bench@example.com', roles: ['customer'] })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'bench' })
      .setSubject('00000000-0000-4000-8000-000000000001')
      .setIssuer('bazaar-identity')
      .setAudience('bazaar')
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
    const auth = `Authorization: Bearer ${token}`;

    // The JWKS for the gateways (identity) and, in the catalog part, the other routes: a trivial upstream.
    const upstreamPort = await freePort();
    const upstream = await startNode(join(root, 'bench/gateway/trivial-upstream.ts'), { PORT: String(upstreamPort), BENCH_JWKS: jwks });
    const gatewayEnv = (target: number) => ({
      SERVICE_NAME: 'gateway',
      IDENTITY_URL: `http://127.0.0.1:${upstreamPort}`,
      CATALOG_URL: `http://127.0.0.1:${target}`,
      // Routes the bench does not use still need an address; discovery is the fixed URLs.
      ORDERS_URL: `http://127.0.0.1:${upstreamPort}`,
      PAYMENTS_URL: `http://127.0.0.1:${upstreamPort}`,
      SHIPPING_URL: `http://127.0.0.1:${upstreamPort}`,
      NOTIFICATIONS_URL: `http://127.0.0.1:${upstreamPort}`,
      DISCOVERY: 'static',
      RATE_LIMIT_PER_MINUTE: '1000000000',
      RATE_LIMIT_PER_USER_PER_MINUTE: '1000000000',
      LOG_LEVEL: 'info',
    });
    if (parts.has('trivial')) {
      // Every round on processes of its own: the upstream, the gateway, nginx and the reference proxy.
      const trivialRound = async (): Promise<Setup> => {
        const port = await freePort();
        const target = await startNode(join(root, 'bench/gateway/trivial-upstream.ts'), { PORT: String(port), BENCH_JWKS: jwks });
        const gatewayPort = await freePort();
        const gateway = await startNode(join(root, 'services/gateway/src/main.ts'), { ...gatewayEnv(port), IDENTITY_URL: `http://127.0.0.1:${port}`, PORT: String(gatewayPort) });
        const nginxPort = await freePort();
        const nginx = await startNginx(nginxPort, port, work);
        const replyFromPort = await freePort();
        const replyFrom = await startNode(join(root, 'bench/gateway/reply-from-proxy.ts'), { PORT: String(replyFromPort), UPSTREAM_URL: `http://127.0.0.1:${port}` });
        // The gateway as `npm start` runs it: every request recorded and exported to the local trace console.
        const consolePort = await freePort();
        const traceConsole = await startNode(join(root, 'bench/gateway/trace-sink.ts'), { PORT: String(consolePort) });
        const tracedPort = await freePort();
        const traced = await startNode(join(root, 'services/gateway/src/main.ts'), {
          ...gatewayEnv(port),
          IDENTITY_URL: `http://127.0.0.1:${port}`,
          PORT: String(tracedPort),
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${consolePort}`,
          OTEL_BSP_SCHEDULE_DELAY: '1000',
        });
        return {
          variants: [
            { name: 'direct', url: `http://127.0.0.1:${port}/api/catalog/ping`, header: auth, processes: { upstream: [target.pid!] } },
            { name: 'gateway (JWT on)', url: `http://127.0.0.1:${gatewayPort}/api/catalog/ping`, header: auth, processes: { gateway: [gateway.pid!], upstream: [target.pid!] } },
            { name: 'nginx (1 worker)', url: `http://127.0.0.1:${nginxPort}/api/catalog/ping`, header: auth, processes: { nginx, upstream: [target.pid!] } },
            { name: 'fastify + reply-from (reference, no auth)', url: `http://127.0.0.1:${replyFromPort}/api/catalog/ping`, header: auth, processes: { proxy: [replyFrom.pid!], upstream: [target.pid!] } },
            {
              name: 'gateway (JWT on, every request traced to the console)',
              url: `http://127.0.0.1:${tracedPort}/api/catalog/ping`,
              header: auth,
              processes: { gateway: [traced.pid!], 'trace console': [traceConsole.pid!], upstream: [target.pid!] },
            },
          ],
          stop: async () => {
            execFileSync('kill', ['-QUIT', String(nginx[0])]);
            await Promise.all([replyFrom, gateway, traced, traceConsole, target].map((child) => stopped(child)));
            // The next round's nginx uses the same prefix directory and pid file.
            while (existsSync(`/proc/${nginx[0]}`)) await new Promise((resolve) => setTimeout(resolve, 50));
          },
        };
      };
      report.push(await compare('Trivial upstream (GET, 22-byte JSON)', trivialRound, true));
    }

    // Catalog product list on real PostgreSQL.
    if (parts.has('catalog')) {
      const postgres = await startEmbeddedPostgres({ stateDir: join(work, 'state'), preferredPort: 0 });
      try {
        await createDatabaseIfMissing(postgres.adminUrl, 'bench_catalog');
        await createDatabaseIfMissing(postgres.adminUrl, 'bench_broker');
        const catalogPort = await freePort();
        const catalog = await startNode(join(root, 'services/catalog/src/main.ts'), {
          SERVICE_NAME: 'catalog',
          PORT: String(catalogPort),
          DATABASE_URL: databaseUrl(postgres.adminUrl, 'bench_catalog'),
          IDENTITY_URL: `http://127.0.0.1:${upstreamPort}`,
          // catalog publishes (stock changes): the embedded broker, in a database of its own.
          BROKER_URL: databaseUrl(postgres.adminUrl, 'bench_broker'),
          DISCOVERY: 'static',
          CATALOG_SEED_DEMO: 'true',
          LOG_LEVEL: 'info',
        });
        const catalogGatewayPort = await freePort();
        const catalogGateway = await startNode(join(root, 'services/gateway/src/main.ts'), { ...gatewayEnv(catalogPort), PORT: String(catalogGatewayPort) });
        const catalogNginxPort = await freePort();
        const catalogNginxDir = join(work, 'nginx-catalog');
        await rm(catalogNginxDir, { recursive: true, force: true });
        execFileSync('mkdir', ['-p', catalogNginxDir]);
        const catalogNginx = await startNginx(catalogNginxPort, catalogPort, catalogNginxDir);
        const path = '/api/catalog/products?pageSize=20';
        report.push(
          await compare('Catalog product list (GET /api/catalog/products?pageSize=20, PostgreSQL)', async (): Promise<Setup> => ({ stop: () => {}, variants: [
            { name: 'direct', url: `http://127.0.0.1:${catalogPort}${path}`, header: auth, processes: { catalog: [catalog.pid!] } },
            { name: 'gateway (JWT on)', url: `http://127.0.0.1:${catalogGatewayPort}${path}`, header: auth, processes: { gateway: [catalogGateway.pid!], catalog: [catalog.pid!] } },
            { name: 'nginx (1 worker)', url: `http://127.0.0.1:${catalogNginxPort}${path}`, header: auth, processes: { nginx: catalogNginx, catalog: [catalog.pid!] } },
          ] }), false),
        );
        execFileSync('kill', ['-QUIT', String(catalogNginx[0])]);
        catalogGateway.kill('SIGTERM');
        catalog.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await postgres.stop();
      }
    }
    upstream.kill('SIGTERM');

    // npm start: cold (fresh state: initdb, migrations, seed) and warm (existing state).
    if (parts.has('startup')) {
      const stateDir = join(work, 'launcher-state');
      const port = await freePort();
      const cold = await startupRun(stateDir, port);
      const warm = await startupRun(stateDir, port);
      report.push(
        [
          '### `npm start` to all-ready',
          '',
          `| run | seconds |`,
          '|---|---:|',
          `| cold (new state folder: initdb, databases, migrations, demo seed) | ${cold.seconds.toFixed(1)} |`,
          `| warm (existing state) | ${warm.seconds.toFixed(1)} |`,
          '',
          '| process (warm run, after start) | RSS MiB |',
          '|---|---:|',
          ...warm.memory.map(([name, mb]) => `| ${name} | ${mb.toFixed(0)} |`),
        ].join('\n'),
      );
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }

  const header = [
    `Run: \`npm run bench:gateway\` (BENCH_SECONDS=${seconds}, BENCH_ROUNDS=${rounds}, BENCH_CONNECTIONS=${connections}, BENCH_PARTS=${[...parts].join(',')}), ${new Date().toISOString().slice(0, 16)}Z`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${spawnSync(nginxBinary(), ['-v']).stderr.toString().trim()}; wrk -t1, load generator, proxies and upstreams share the machine's cores.`,
    '',
  ];
  process.stdout.write([...header, ...report.flatMap((r) => [r, ''])].join('\n') + '\n');
}

main().catch((error: unknown) => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
