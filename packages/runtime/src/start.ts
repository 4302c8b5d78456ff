/**
 * `npm start`: the whole system on one machine. Starts embedded PostgreSQL (or
 * uses the external one you point at), creates one database per service, then runs
 * every service of the topology as its own supervised process and prints where to go.
 *
 *   npm start                       embedded PostgreSQL, data kept in .bazaar/
 *   npm start -- --reset            wipe .bazaar/ first
 *   npm start -- --postgres-url postgres://user@host:5432/postgres
 *                                   create the per-service databases on that server
 *   IDENTITY_DATABASE_URL=… CATALOG_DATABASE_URL=… npm start
 *                                   one database URL per service, as in production
 *   npm start -- --broker nats://127.0.0.1:4222   (or BROKER_URL=…)
 *                                   NATS JetStream instead of the embedded broker
 *                                   (the embedded broker is one more PostgreSQL database)
 *   npm start -- --replicas catalog=3,orders=2    (or BAZAAR_REPLICAS=…)
 *                                   several processes of a service, each on its own
 *                                   port, registered in the service registry; callers
 *                                   balance over them (replica 1 keeps the declared port)
 *   npm start -- --no-trace-console  (or BAZAAR_TRACE_CONSOLE=off)
 *                                   no local trace console, and services record no spans;
 *                                   with OTEL_EXPORTER_OTLP_ENDPOINT set, they export there
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDatabaseIfMissing, databaseUrl } from '@bazaar/chassis';
import { BROKER_DATABASE, databaseUrlVariable, serviceNames, serviceUrlVariable, startOrder, topology, type ServiceName } from '@bazaar/topology';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres.ts';
import { formatLogLine } from './log-format.ts';
import { RUNTIME_FILE, type RuntimeFile, type RuntimeInstance } from './runtime-file.ts';
import { isPortFree, portOrFree } from './ports.ts';
import { Supervisor } from './supervisor.ts';
import { startTraceConsole } from './trace-console/server.ts';

/** Where the local trace console listens when the port is free. */
const TRACE_CONSOLE_PORT = 8099;

/** More processes of one service than this on one machine is a mistake, not a test. */
const MAX_REPLICAS = 8;
const projectRoot = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const startedAt = Date.now();

const { values: flags } = parseArgs({
  options: {
    reset: { type: 'boolean', default: false },
    state: { type: 'string', default: process.env['BAZAAR_STATE_DIR'] ?? join(projectRoot, '.bazaar') },
    'postgres-url': { type: 'string', default: process.env['BAZAAR_POSTGRES_URL'] },
    host: { type: 'string', default: process.env['HOST'] ?? '127.0.0.1' },
    port: { type: 'string', default: process.env['PORT'] ?? String(topology.gateway.port) },
    'raw-logs': { type: 'boolean', default: process.env['BAZAAR_LOG_FORMAT'] === 'json' },
    broker: { type: 'string', default: process.env['BROKER_URL'] },
    replicas: { type: 'string', default: process.env['BAZAAR_REPLICAS'] },
    'trace-console': { type: 'boolean', default: process.env['BAZAAR_TRACE_CONSOLE'] !== 'off' },
  },
  allowNegative: true,
  strict: true,
});

const color = process.stdout.isTTY && !process.env['NO_COLOR'];
const say = (message: string) => process.stdout.write(`${color ? '\x1b[1mbazaar\x1b[0m' : 'bazaar'} ${message}\n`);
const replicas = parseReplicas(flags.replicas);
/** The name a replica runs (and logs) under: the service's own for replica 1, `<service>#<n>` for the others. */
const processName = (service: ServiceName, replica: number) => (replica === 1 ? service : `${service}#${replica}`);
const width = Math.max(...serviceNames.map((n) => processName(n, replicas[n]).length));

async function main(): Promise<void> {
  const stateDir = resolve(flags.state!);
  if (flags.reset) {
    say(`--reset: removing ${stateDir}`);
    await rm(stateDir, { recursive: true, force: true });
  }

  const gatewayPort = Number(flags.port);
  if (!Number.isInteger(gatewayPort) || gatewayPort < 0 || gatewayPort > 65535) fail(`PORT must be a port number, got "${flags.port}"`);
  if (gatewayPort !== 0 && !(await isPortFree(gatewayPort, flags.host))) fail(`port ${gatewayPort} on ${flags.host} is taken; set PORT (e.g. PORT=8090 npm start)`);

  // Databases: one per service, on embedded PostgreSQL unless told otherwise.
  const owners = serviceNames.filter((name) => topology[name].database !== null);
  const explicit = Object.fromEntries(owners.map((name) => [name, process.env[databaseUrlVariable(name)]]));
  let postgres: RunningPostgres | undefined;
  let serverUrl = flags['postgres-url'];
  const brokerUrl = flags.broker;
  if (brokerUrl && !/^(nats|postgres|postgresql):\/\//.test(brokerUrl)) fail(`--broker / BROKER_URL must be nats://… or postgres://…, got "${brokerUrl}"`);
  if (owners.every((name) => explicit[name])) {
    say('using the database URLs from the environment');
    if (!brokerUrl) fail('with per-service DATABASE_URLs, also set BROKER_URL (nats://… or a postgres:// URL for the embedded broker)');
  } else if (!serverUrl) {
    say('starting embedded PostgreSQL…');
    postgres = await startEmbeddedPostgres({ stateDir, onLog: (line) => process.env['BAZAAR_DEBUG'] && say(`postgres: ${line}`) });
    serverUrl = postgres.adminUrl;
    say(`PostgreSQL ready on 127.0.0.1:${postgres.port} (data in ${postgres.dataDir})`);
  }
  const databaseUrls = {} as Record<ServiceName, string>;
  for (const name of owners) {
    if (explicit[name]) {
      databaseUrls[name] = explicit[name]!;
      continue;
    }
    const database = topology[name].database!;
    if (await createDatabaseIfMissing(serverUrl!, database)) say(`created database ${database}`);
    databaseUrls[name] = databaseUrl(serverUrl!, database);
  }

  // The broker: NATS when asked for, otherwise the embedded broker in a database of its own.
  let broker = brokerUrl;
  if (!broker) {
    if (await createDatabaseIfMissing(serverUrl!, BROKER_DATABASE)) say(`created database ${BROKER_DATABASE} (embedded broker)`);
    broker = databaseUrl(serverUrl!, BROKER_DATABASE);
  }
  const brokerLabel = broker.startsWith('nats:') ? `NATS JetStream at ${new URL(broker).host}` : `embedded (PostgreSQL database ${new URL(broker).pathname.slice(1)})`;
  say(`message broker: ${brokerLabel}`);

  // Ports: the declared ones when free, any free one otherwise (internal services only).
  const ports = {} as Record<ServiceName, number>;
  // BAZAAR_EPHEMERAL_PORTS=1 (the tests, which run several systems at once): port 0,
  // the OS picks when the service listens, so two launchers never race for a port
  // (a port found free here could be taken before the service binds it).
  const ephemeral = process.env['BAZAAR_EPHEMERAL_PORTS'] === '1';
  for (const name of serviceNames) ports[name] = name === 'gateway' ? gatewayPort : ephemeral ? 0 : await portOrFree(topology[name].port);
  // Where each service's replica 1 listens, known once it reported ready (services start
  // after their dependencies, so each one's <SERVICE>_URL is known when it is needed).
  const urls = {} as Record<ServiceName, string>;
  // Replicas after the first: port 0 too. Callers find them in the service registry;
  // the <SERVICE>_URL variables keep pointing at replica 1 (the static fallback).
  const replicaPorts = {} as Record<ServiceName, number[]>;
  for (const name of serviceNames) replicaPorts[name] = [ports[name], ...Array.from({ length: replicas[name] - 1 }, () => 0)];
  // Traces: to the user's collector when OTEL_EXPORTER_OTLP_ENDPOINT says so, otherwise to
  // the local trace console (unless it is turned off, and then nothing records spans).
  const exporting = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const traceConsole = !exporting && flags['trace-console'] ? await startTraceConsole(ephemeral ? 0 : await portOrFree(TRACE_CONSOLE_PORT)) : undefined;
  const telemetryEnv: Record<string, string> = traceConsole ? { OTEL_EXPORTER_OTLP_ENDPOINT: traceConsole.url, OTEL_BSP_SCHEDULE_DELAY: '1000' } : {};
  const instances = {} as Record<ServiceName, RuntimeInstance[]>;
  /** Each process's entry in `instances`, by process name, so a restart updates its pid. */
  const byProcess = new Map<string, RuntimeInstance>();

  const supervisor = new Supervisor({
    output: (name, line) => process.stdout.write(`${name.padEnd(width)} | ${flags['raw-logs'] ? line : formatLogLine(line, Boolean(color))}\n`),
    event: (message) => say(message),
    ready: (name, pid) => {
      const instance = byProcess.get(name);
      if (!instance || instance.pid === pid) return;
      instance.pid = pid; // restarted: runtime.json follows
      if (written.runtime && !stopping) void writeRuntime(written.runtime).catch(() => {});
    },
  });
  let stopping: Promise<never> | undefined;
  const shutdown = (exitCode: number): Promise<never> => {
    stopping ??= (async () => {
      say('stopping services…');
      await rm(runtimeFile, { force: true });
      await supervisor.stop();
      await traceConsole?.close();
      if (postgres) {
        say('stopping PostgreSQL…');
        await postgres.stop();
      }
      say('stopped');
      process.exit(exitCode);
    })();
    return stopping;
  };
  // A second Ctrl-C while stopping: stop now.
  const onSignal = () => {
    if (!stopping) return void shutdown(0);
    say('stopping now');
    supervisor.kill();
    void postgres?.stop().finally(() => process.exit(1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  supervisor.onFatal = () => void shutdown(1);

  const credentialsFile = join(stateDir, 'admin-credentials.json');
  // Where the running system's databases and broker are, for operator tools
  // (`npm run check:invariants`, `npm run dlq`); it holds credentials, so owner-only.
  const runtimeFile = join(stateDir, RUNTIME_FILE);
  const written: { runtime?: RuntimeFile } = {}; // once the system is up
  const writeRuntime = (content: RuntimeFile) => writeFile(runtimeFile, JSON.stringify(content, null, 2), { mode: 0o600 });
  const addresses = {} as Record<ServiceName, string>;
  for (const name of startOrder()) {
    const portLabel = (port: number) => (port === 0 ? 'any free port' : `port ${port}`);
    say(replicas[name] > 1 ? `starting ${name}: ${replicas[name]} replicas…` : `starting ${name} on ${portLabel(ports[name])}…`);
    const env: Record<string, string> = {
      SERVICE_NAME: name,
      PORT: String(ports[name]),
      HOST: name === 'gateway' ? flags.host! : '127.0.0.1',
      BAZAAR_ADMIN_CREDENTIALS_FILE: credentialsFile,
      CATALOG_SEED_DEMO: process.env['CATALOG_SEED_DEMO'] ?? 'true',
      BROKER_URL: broker,
      ...telemetryEnv,
    };
    // Services sit behind the gateway on loopback: believe its X-Forwarded-For, so per-client
    // limits (login throttling) see the real client, not the gateway.
    if (name !== 'gateway') env['TRUST_PROXY'] = 'loopback';
    if (name === 'gateway' && traceConsole) env['TRACE_CONSOLE_URL'] = traceConsole.url;
    if (databaseUrls[name]) env['DATABASE_URL'] = databaseUrls[name];
    for (const dependency of name === 'gateway' ? serviceNames.filter((n) => n !== 'gateway') : topology[name].dependsOn) {
      env[serviceUrlVariable(dependency)] = urls[dependency];
    }
    // Resilience drills (slow or failing answers on demand) are on locally unless FAULT_INJECTION says otherwise.
    if (process.env['FAULT_INJECTION'] === undefined) env['FAULT_INJECTION'] = 'true';
    const host = name === 'gateway' ? flags.host! : '127.0.0.1';
    const startReplica = async (replica: number): Promise<RuntimeInstance> => {
      const processEnv = { ...env, PORT: String(replicaPorts[name][replica - 1]), INSTANCE_METADATA: instanceMetadata(replica) };
      const address = await supervisor.start({ name: processName(name, replica), entry: join(projectRoot, 'services', name, 'src', 'main.ts'), env: processEnv });
      if (replica === 1) addresses[name] = address;
      // The address the process reported (PORT=0 picks a free port).
      const port = reportedPort(address) ?? replicaPorts[name][replica - 1]!;
      // A restart (the supervisor reuses this env) comes back on the same port.
      processEnv.PORT = String(port);
      if (replica === 1 && name !== 'gateway') urls[name] = `http://127.0.0.1:${port}`;
      const instance: RuntimeInstance = { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`, pid: supervisor.pid(processName(name, replica)) ?? 0, replica };
      byProcess.set(processName(name, replica), instance);
      return instance;
    };
    try {
      // Replica 1 first (it applies the migrations), then the others together.
      const first = await startReplica(1);
      const others = await Promise.all(Array.from({ length: replicas[name] - 1 }, (_, i) => startReplica(i + 2)));
      instances[name] = [first, ...others];
    } catch (error) {
      say(`${(error as Error).message}`);
      await shutdown(1);
    }
  }

  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  // The address the gateway reported (PORT=0 picks a free port).
  const listeningPort = new URL(addresses.gateway || `http://127.0.0.1:${ports.gateway}`).port;
  const gateway = `http://${flags.host === '0.0.0.0' ? '127.0.0.1' : flags.host}:${listeningPort}`;
  const lines = [
    '',
    `Bazaar is ready in ${seconds} s.`,
    '',
    `  storefront      ${gateway}/   (shop, check out with a test card, watch the order; sign in as the admin below for operations)`,
    `  API gateway     ${gateway}`,
    `  API docs        ${gateway}/docs`,
    `  products        ${gateway}/api/catalog/products`,
    `  broker          ${brokerLabel}`,
    `  traces          ${traceConsole ? `${traceConsole.url}   (every request's path through the services and the broker)` : exporting ? `exported to ${exporting}` : 'off'}`,
    ...instances.gateway.slice(1).map((i) => `  ${processName('gateway', i.replica).padEnd(15)} ${i.url}  (pid ${i.pid})`),
    ...serviceNames
      .filter((n) => n !== 'gateway')
      .flatMap((n) => [
        `  ${n.padEnd(15)} ${urls[n]}  (pid ${supervisor.pid(n)}, /docs /metrics /readyz)`,
        ...instances[n].slice(1).map((i) => `  ${processName(n, i.replica).padEnd(15)} ${i.url}  (pid ${i.pid})`),
      ]),
    ...(serviceNames.some((n) => replicas[n] > 1)
      ? [`  replicas        ${serviceNames.filter((n) => replicas[n] > 1).map((n) => `${n} ×${replicas[n]}`).join(', ')} (registered in the service registry; callers balance over them)`]
      : []),
    '',
    ...(await adminLogin(credentialsFile)),
    `  state           ${stateDir}   (npm start -- --reset wipes it)`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  await mkdir(stateDir, { recursive: true });
  urls.gateway = gateway;
  written.runtime = { pid: process.pid, gateway, broker, databases: databaseUrls, services: urls, instances, ...(traceConsole ? { traces: traceConsole.url } : {}) };
  await writeRuntime(written.runtime);
  process.stdout.write(lines.join('\n') + '\n');
}

/** The generated admin password is shown once, then its file is deleted. */
async function adminLogin(file: string): Promise<string[]> {
  try {
    const { email, password } = JSON.parse(await readFile(file, 'utf8')) as { email: string; password: string };
    await rm(file, { force: true });
    return [`  admin login     ${email} / ${password}`, '                  (generated now and shown only this once; set BAZAAR_ADMIN_EMAIL / BAZAAR_ADMIN_PASSWORD to choose)'];
  } catch {
    return [`  admin login     ${process.env['BAZAAR_ADMIN_EMAIL'] ?? 'admin@bazaar.local'} (password shown at first start, or BAZAAR_ADMIN_PASSWORD)`];
  }
}

/** `catalog=3,orders=2` → how many processes of each service run (1 when not named). */
function parseReplicas(text: string | undefined): Record<ServiceName, number> {
  const counts = Object.fromEntries(serviceNames.map((name) => [name, 1])) as Record<ServiceName, number>;
  for (const pair of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([a-z]+)=(\d+)$/.exec(pair);
    if (!match) fail(`--replicas / BAZAAR_REPLICAS takes service=count pairs such as catalog=3,orders=2, got "${pair}"`);
    const [, name, count] = match;
    if (!(serviceNames as readonly string[]).includes(name!)) fail(`--replicas: there is no service "${name}" (services: ${serviceNames.join(', ')})`);
    const replicas = Number(count);
    if (replicas < 1 || replicas > MAX_REPLICAS) fail(`--replicas: ${name}=${count}: a service runs 1 to ${MAX_REPLICAS} replicas`);
    counts[name as ServiceName] = replicas;
  }
  return counts;
}

/** The labels a replica registers with: the user's INSTANCE_METADATA, if any, and its replica number. */
function instanceMetadata(replica: number): string {
  const own = process.env['INSTANCE_METADATA'];
  return own ? `${own},replica=${replica}` : `replica=${replica}`;
}

/** The port in a listening address such as `http://127.0.0.1:4002`. */
function reportedPort(address: string): number | undefined {
  try {
    const port = Number(new URL(address).port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function fail(message: string): never {
  say(message);
  process.exit(1);
}

main().catch((error: unknown) => {
  say(`failed to start: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
