import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import AjvCompiler from '@fastify/ajv-compiler';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Static, TObject } from 'typebox';
import type { Registry } from 'prom-client';
import { createAccessTokenVerifier, installAuthentication, type JwtVerifierOptions, type VerifyAccessToken } from './auth.ts';
import { ConfigError, loadConfig, type BaseConfig } from './config.ts';
import { Database, migrate } from './database.ts';
import { installHealth, type Health } from './health.ts';
import { loggerOptions } from './logging.ts';
import { createMetrics, installRequestMetrics } from './metrics.ts';
import { installOpenApi } from './openapi.ts';
import { finiteNumbersOnly, installNulRefusal } from './request-input.ts';
import { ROUTER_OPTIONS } from './allowed-methods.ts';
import { answerClientError, answerFrameworkError, AppError, installProblemHandlers, sendProblem } from './problem.ts';
import { acceptableRequestId } from './request-context.ts';
import { nameServerSpan, startTelemetry, untraced, withServerSpan, type TelemetryOptions } from './telemetry.ts';
import { messageFlows, topology, type ServiceName } from '@bazaar/topology';
import type { Broker } from './messaging/broker.ts';
import { connectBroker } from './messaging/connect.ts';
import { MessageConsumer, type MessageHandlers } from './messaging/consumer.ts';
import { DeadLetterQueue, installDeadLetterRoutes } from './messaging/dead-letters.ts';
import { Outbox, OutboxRelay } from './messaging/outbox.ts';
import { Upstreams, parseOverrides } from './resilience/upstreams.ts';
import { createFaultInjector, type FaultInjector } from './faults.ts';
import { connectRegistry } from './discovery/connect.ts';
import { createDiscovery, registryUrl, type Discovery } from './discovery/discovery.ts';
import { advertisedUrl, instanceId, instanceStatus, parseInstanceMetadata, Registration } from './discovery/registration.ts';

/** The chassis's own migrations (outbox, inbox, dead letters), applied before a messaging service's own. */
export const MESSAGING_MIGRATIONS = new URL('./messaging/migrations/', import.meta.url);

export type ServiceApp = FastifyInstance<
  ReturnType<typeof createServer>,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Everything a service's routes get handed: its config, its database, its probes. */
export interface ServiceContext<C extends BaseConfig = BaseConfig> {
  config: C;
  /** The service's own database; absent for stateless services such as the gateway. */
  db: Database | undefined;
  health: Health;
  metrics: Registry;
  log: FastifyBaseLogger;
  /** Verifies access tokens (what `app.authenticate` uses), for code below the framework. */
  verifyAccessToken: VerifyAccessToken;
  /**
   * Installs a handler that sees each raw request before Fastify does and returns
   * true when it answered it. For hot paths that must not pay for the framework
   * (the gateway's proxy); it still runs inside the request's span and context.
   */
  intercept(handler: RawHandler): void;
  /**
   * Where the service writes the messages it publishes, inside the transaction of
   * the state change they announce (the topology says which messages it may write).
   */
  outbox: Outbox;
  /**
   * Where the other services run: their live instances from the service registry
   * (refreshed in the background; reading is synchronous), or their `<SERVICE>_URL`
   * when the registry has none up or DISCOVERY=static.
   */
  discovery: Discovery;
  /**
   * Clients of the other services, one per dependency, with the declared
   * resilience policies (timeout, retry within a budget, breaker, bulkhead,
   * load balancing over discovery's instances). Every outbound HTTP call goes through one.
   */
  upstreams: Upstreams;
}

/** A request handler below the framework: returns true when it took the request. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse, requestId: string) => boolean;

/** A service as the chassis sees it: a name, a config schema, migrations and a Fastify plugin. */
export interface ServiceModule<S extends TObject> {
  name: string;
  title: string;
  description: string;
  version?: string;
  configSchema: S;
  /** Directory of the service's SQL migrations; a service with migrations requires DATABASE_URL. */
  migrations?: URL;
  /** How access tokens are verified; by default against the JWKS of the service at IDENTITY_URL. */
  accessTokens?: (context: ServiceContext<Static<S> & BaseConfig>) => VerifyAccessToken | Promise<VerifyAccessToken>;
  /** Registers the service's routes. Also used by tests, through `createService`. */
  routes: (app: ServiceApp, context: ServiceContext<Static<S> & BaseConfig>) => Promise<void>;
  /** Rewrites the OpenAPI document served at /docs/json. */
  transformOpenApi?: (document: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  /**
   * The service's message handlers, by message name; they must match what the
   * topology says the service consumes. The chassis runs them with an inbox,
   * retries, a dead-letter queue and its admin routes.
   */
  messageHandlers?: (context: ServiceContext<Static<S> & BaseConfig>) => MessageHandlers;
  /** Runs once after migrations, before the listener opens (seed data, bootstrap accounts). */
  onStart?: (context: ServiceContext<Static<S> & BaseConfig>) => Promise<void>;
  /** Releases what the routes opened (clients, timers); the chassis closes the database itself. */
  onStop?: () => Promise<void>;
}

export interface CreateServiceOptions {
  /** Pino options override; tests pass `false` for a silent logger. */
  logger?: boolean;
  db?: Database;
  /** Close `db` when the app closes (the process owns it; tests drop their own). */
  closeDatabase?: boolean;
  /**
   * With a broker (and a database), the service runs its outbox relay and its
   * consumer. Without one, messages still go into the outbox; nothing publishes them.
   */
  broker?: Broker;
  /** Close `broker` when the app closes. */
  closeBroker?: boolean;
  /** The process's discovery (runService passes a registry-backed one); by default the static `<SERVICE>_URL`s. */
  discovery?: Discovery;
}

/** What the topology declares for `name`; nothing for names it does not know (test services). */
function declaredMessaging(name: string): { publishes: readonly string[]; consumes: readonly string[]; prefix: string | undefined } {
  const entry = (topology as Record<string, (typeof topology)[ServiceName] | undefined>)[name];
  return { publishes: entry?.publishes ?? [], consumes: entry?.consumes ?? [], prefix: entry?.routes[0] };
}

/** Whether the topology has `name` publish or consume messages (it then needs BROKER_URL). */
export function usesMessaging(name: string): boolean {
  const declared = declaredMessaging(name);
  return declared.publishes.length > 0 || declared.consumes.length > 0;
}

const ajvOptions = { removeAdditional: false, useDefaults: true, allErrors: true } as const;

/**
 * Query strings, params and headers arrive as text, so their validator coerces
 * ("2" → 2); bodies are JSON and are taken as sent: `{"page": "2"}` is an error.
 */
function buildValidator(externalSchemas: unknown, options: unknown) {
  const base = options as Record<string, unknown> | undefined;
  const coercing = AjvCompiler()(externalSchemas as never, { ...base, customOptions: { ...ajvOptions, coerceTypes: 'array' } } as never);
  const exact = AjvCompiler()(externalSchemas as never, { ...base, customOptions: { ...ajvOptions, coerceTypes: false } } as never);
  // A coerced number must still be finite: Ajv lets `?page=1e309` through as Infinity (see request-input.ts).
  return (route: { httpPart?: string }) => (route.httpPart === 'body' ? exact(route as never) : finiteNumbersOnly(coercing(route as never)));
}

/** `TRUST_PROXY`: empty → trust no proxy; `true` → any; otherwise a list of addresses/CIDRs (e.g. `loopback`). */
function trustProxy(value: string): boolean | string[] {
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

/** Where identity publishes its signing keys, relative to IDENTITY_URL. */
export const JWKS_PATH = '/api/identity/.well-known/jwks.json';

/**
 * Builds the service's Fastify app with the chassis around it: problem+json errors,
 * request ids, logs, metrics, health, OpenAPI, authentication. No socket is opened;
 * tests call `app.inject()`, `runService` calls `listen`.
 */
export async function createService<S extends TObject>(
  module: ServiceModule<S>,
  config: Static<S> & BaseConfig,
  options: CreateServiceOptions = {},
): Promise<{ app: ServiceApp; context: ServiceContext<Static<S> & BaseConfig> }> {
  startTelemetry(telemetryOptions(config));
  let intercept: RawHandler | undefined;
  // Fault injection (FAULT_INJECTION=true: `npm run chaos`, tests) sees each request first; off, it is one branch.
  let faults: FaultInjector | undefined;
  const app = Fastify({
    logger: options.logger === false ? false : loggerOptions(config.SERVICE_NAME, config.LOG_LEVEL),
    serverFactory: (handler) => {
      const serve = (req: IncomingMessage, res: ServerResponse, requestId: string) => intercept?.(req, res, requestId) || handler(req, res);
      const server = createServer(tracedHandler((req, res, requestId) => (faults ? faults.around(req, res, () => serve(req, res, requestId)) : serve(req, res, requestId))));
      // Fastify applies its timeout options only to servers it creates itself.
      server.keepAliveTimeout = 72_000; // longer than common load balancers' idle timeout (60 s)
      server.headersTimeout = 30_000;
      server.requestTimeout = 30_000;
      return server;
    },
    genReqId: (req) => acceptableRequestId(req.headers['x-request-id']) ?? randomUUID(),
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    bodyLimit: config.BODY_LIMIT,
    trustProxy: trustProxy(config.TRUST_PROXY),
    // While closing, the chassis answers 503 itself, as problem+json (see below).
    return503OnClosing: false,
    routerOptions: ROUTER_OPTIONS,
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as ServiceApp;

  if (config.FAULT_INJECTION) {
    faults = createFaultInjector({ enabled: true, service: config.SERVICE_NAME, log: app.log });
    const injector = faults;
    // Held (blackholed, delayed) requests are let go, so close() does not wait for them.
    app.addHook('preClose', (done) => {
      injector.clear();
      done();
    });
  }
  const metrics = createMetrics(config.SERVICE_NAME);
  const health = installHealth(app);
  const db = options.db;
  if (db) health.addCheck('database', () => db.ping());
  const declared = declaredMessaging(config.SERVICE_NAME);
  const discovery = options.discovery ?? createDiscovery(config);
  const context: ServiceContext<Static<S> & BaseConfig> = {
    outbox: new Outbox(config.SERVICE_NAME, declared.publishes),
    discovery,
    upstreams: new Upstreams({ caller: config.SERVICE_NAME, source: discovery, registry: metrics, overrides: config.CALL_POLICY_OVERRIDES, connections: config.UPSTREAM_CONNECTIONS }),
    config,
    db,
    health,
    metrics,
    log: app.log,
    verifyAccessToken: async () => {
      throw new Error('access tokens are verified only once the service is built');
    },
    intercept: (handler) => void (intercept = handler),
  };

  const problems = installProblemHandlers(app);
  installNulRefusal(app);
  // JSON is the only body format of the API: anything else answers 415.
  app.removeContentTypeParser('text/plain');
  installRequestIdAndClosing(app, config.SERVICE_NAME);
  installRequestMetrics(app, metrics);
  installAccessLog(app);
  problems.answerNotFoundEarly();
  await installOpenApi(app, {
    title: module.title,
    description: module.description,
    version: module.version ?? '0.1.0',
    ...(module.transformOpenApi ? { transformSpecification: module.transformOpenApi } : {}),
  });
  context.verifyAccessToken = await (module.accessTokens ?? defaultAccessTokens)(context);
  installAuthentication(app, context.verifyAccessToken);

  await module.routes(app, context);
  const messaging = installMessaging(app, module, context, options.broker, declared);
  app.addHook('onClose', async () => {
    await messaging.stop();
    await module.onStop?.();
    await context.upstreams.close();
    if (options.closeBroker) await options.broker?.close();
    if (options.closeDatabase) await db?.close();
  });
  await app.ready();
  await messaging.start();
  return { app, context };
}

/**
 * The messaging side of a service: the outbox relay (if it publishes), the
 * consumer with its inbox and dead-letter queue (if it handles messages), and
 * the dead-letter admin routes under the service's route prefix.
 */
function installMessaging<C extends BaseConfig>(
  app: ServiceApp,
  module: { name: string; messageHandlers?: (context: ServiceContext<C>) => MessageHandlers },
  context: ServiceContext<C>,
  broker: Broker | undefined,
  declared: ReturnType<typeof declaredMessaging>,
): { start(): Promise<void>; stop(): Promise<void> } {
  const handlers = module.messageHandlers?.(context) ?? {};
  const handled = Object.keys(handlers).sort();
  const consumes = [...declared.consumes].sort();
  if (handled.join() !== consumes.join()) {
    throw new Error(`${module.name} handles [${handled.join(', ')}] but the topology says it consumes [${consumes.join(', ')}]`);
  }
  const db = context.db;
  if (!db || !broker) return { start: async () => {}, stop: async () => {} };
  const { config } = context;
  const relay =
    declared.publishes.length > 0
      ? new OutboxRelay({ db, broker, log: context.log, metrics: context.metrics, retentionMs: config.OUTBOX_RETENTION_MS, name: `${module.name}-relay` })
      : undefined;
  let consumer: MessageConsumer | undefined;
  if (handled.length > 0) {
    consumer = new MessageConsumer({
      group: module.name,
      db,
      broker,
      outbox: context.outbox,
      handlers,
      log: context.log,
      metrics: context.metrics,
      maxAttempts: config.MESSAGE_MAX_ATTEMPTS,
      backoffBaseMs: config.MESSAGE_BACKOFF_BASE_MS,
      // Renew well within the lease, so a long handler keeps its message.
      extendEveryMs: Math.max(100, Math.floor(config.MESSAGE_LEASE_MS / 3)),
    });
    if (declared.prefix) installDeadLetterRoutes(app, `${declared.prefix}/admin/dlq`, new DeadLetterQueue(db, consumer));
  }
  return {
    start: async () => {
      await relay?.start();
      await consumer?.start();
    },
    stop: async () => {
      await consumer?.stop();
      await relay?.stop();
    },
  };
}

/**
 * Echoes the request id on every answer. Once close() has begun, a request that
 * still arrives (on a connection accepted earlier) gets problem+json 503, and
 * answers still in flight carry `Connection: close`, so keep-alive clients move
 * elsewhere and close() does not wait out idle timeouts.
 */
function installRequestIdAndClosing(app: ServiceApp, serviceName: string): void {
  let closing = false;
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const route = request.routeOptions.url;
    if (route !== undefined) nameServerSpan(request.method, route);
    if (!closing) return done();
    reply.header('connection', 'close').header('retry-after', '1');
    sendProblem(reply, 'SERVICE_UNAVAILABLE', { detail: `${serviceName} is shutting down` });
  });
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, _payload, done) => {
    if (closing) reply.header('connection', 'close');
    done();
  });
}

function defaultAccessTokens(context: ServiceContext): VerifyAccessToken {
  // The JWKS comes through the identity client: discovery (any identity replica) and its call policies.
  const identity = context.upstreams.get('identity');
  const fetchJwks = async (_url: string, init: { signal?: AbortSignal }) => {
    const answer = await identity.request({ path: JWKS_PATH, ...(init.signal ? { signal: init.signal } : {}) });
    return new Response(new Uint8Array(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
  };
  return defaultAccessTokenVerifier(context.config, fetchJwks);
}

/** Verifies tokens against the JWKS of the identity service at IDENTITY_URL (fetched with `fetchJwks` when given). */
export function defaultAccessTokenVerifier(config: BaseConfig & { IDENTITY_URL?: string }, fetchJwks?: JwtVerifierOptions['fetchJwks']): VerifyAccessToken {
  const identityUrl = config.IDENTITY_URL;
  if (!identityUrl) {
    // A service without IDENTITY_URL has no authenticated routes; a token sent to it is refused.
    return async () => {
      throw new AppError('UNAUTHENTICATED', 'This service does not accept access tokens');
    };
  }
  return createAccessTokenVerifier({ jwks: new URL(JWKS_PATH, identityUrl), issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ...(fetchJwks ? { fetchJwks } : {}) });
}

/** Probes and scrapes: the orchestrator's and Prometheus' calls every few seconds, neither logged nor traced. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Every request runs inside its server span and its request context, with its id
 * echoed back; a probe's span is not recorded (unless its caller sampled it).
 */
function tracedHandler(handler: (req: IncomingMessage, res: ServerResponse, requestId: string) => unknown) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = acceptableRequestId(req.headers['x-request-id']) ?? randomUUID();
    req.headers['x-request-id'] = requestId;
    const serve = () => withServerSpan(req, res, { requestId }, () => handler(req, res, requestId));
    if (PROBE_PATHS.has(req.url ?? '')) untraced(serve);
    else serve();
  };
}

/** One line per request, after it completed: method, path, route, status, duration. */
function installAccessLog(app: ServiceApp): void {
  app.addHook('onResponse', (request, reply, done) => {
    if (!PROBE_PATHS.has(request.url)) {
      request.log.info(
        { method: request.method, path: request.url.split('?')[0], route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
        'request completed',
      );
    }
    done();
  });
}

/** Telemetry as the configuration says: exporter, batch delay, sampler. */
const telemetryOptions = (config: BaseConfig): TelemetryOptions => ({
  serviceName: config.SERVICE_NAME,
  otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  exportDelayMs: config.OTEL_BSP_SCHEDULE_DELAY,
  sampler: config.OTEL_TRACES_SAMPLER,
  samplerRatio: config.OTEL_TRACES_SAMPLER_ARG,
});

/**
 * The process around a service: config from the environment (fails fast, naming
 * the bad variable), telemetry, database and migrations, listen, and graceful
 * shutdown on SIGTERM/SIGINT or when the launcher that spawned it goes away.
 */
export async function runService<S extends TObject>(module: ServiceModule<S>): Promise<void> {
  let config: Static<S> & BaseConfig;
  try {
    config = loadConfig(module.configSchema, { SERVICE_NAME: module.name, ...process.env }) as Static<S> & BaseConfig;
    parseOverrides(config.CALL_POLICY_OVERRIDES); // checked now: a typo stops the service like any bad variable
  } catch (error) {
    process.stderr.write(`${module.name}: ${(error as Error).message}\n`);
    process.exit(78); // EX_CONFIG: the launcher does not restart a misconfigured service
  }
  // The process's first call installs telemetry (createService's finds it installed): both read the same variables.
  const telemetry = startTelemetry(telemetryOptions(config));

  const databaseUrl = process.env['DATABASE_URL'];
  let db: Database | undefined;
  if (module.migrations) {
    if (!databaseUrl) {
      process.stderr.write(`${module.name}: Invalid configuration:\n  - DATABASE_URL: is required (this service owns a database)\n`);
      process.exit(78);
    }
    db = new Database({ connectionString: databaseUrl, applicationName: module.name });
  }

  // Migrations first: routes and key loaders may read the schema while the app is built.
  const messaging = usesMessaging(module.name);
  const applied = db && messaging ? await migrate(db, MESSAGING_MIGRATIONS, { namespace: 'messaging' }) : [];
  if (db) applied.push(...(await migrate(db, module.migrations!)));
  let broker: Broker | undefined;
  if (messaging) {
    if (!config.BROKER_URL) {
      process.stderr.write(`${module.name}: Invalid configuration:\n  - BROKER_URL: is required (this service publishes or consumes messages)\n`);
      process.exit(78);
    }
    broker = connectBroker(config.BROKER_URL, { leaseMs: config.MESSAGE_LEASE_MS, connectionName: module.name, prefix: config.BROKER_PREFIX, partitions: config.BROKER_PARTITIONS });
    await broker.declare(messageFlows());
  }
  // Discovery: the registry this instance registers in and its callers read (REGISTRY_URL, else BROKER_URL).
  const registryAt = registryUrl(config);
  if (registryAt && config.REGISTRY_TTL_MS <= config.HEARTBEAT_MS) {
    process.stderr.write(`${module.name}: Invalid configuration:\n  - REGISTRY_TTL_MS: must be longer than HEARTBEAT_MS (${config.HEARTBEAT_MS}), a few heartbeats (got ${config.REGISTRY_TTL_MS})\n`);
    process.exit(78);
  }
  const registry = registryAt ? connectRegistry(registryAt, { ttlMs: config.REGISTRY_TTL_MS, prefix: config.BROKER_PREFIX, connectionName: `${module.name}-registry` }) : undefined;
  const logs: { app?: FastifyBaseLogger } = {}; // discovery logs through the app's logger, once there is an app
  const discovery = createDiscovery(config, { registry, log: { info: (details, message) => logs.app?.info(details, message), warn: (details, message) => logs.app?.warn(details, message) } });
  const { app, context } = await createService(module, config, {
    ...(db ? { db, closeDatabase: true } : {}),
    ...(broker ? { broker, closeBroker: true } : {}),
    discovery,
  });
  logs.app = app.log;
  await discovery.start();
  if (applied.length) app.log.info({ applied }, 'migrations applied');
  try {
    await module.onStart?.(context);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${module.name}: ${error.message}\n`);
    await app.close();
    process.exit(78);
  }

  let stopping = false;
  let registration: Registration | undefined;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.log.info({ reason }, 'shutting down: draining');
    context.health.startDraining();
    const force = setTimeout(() => {
      app.log.error('shutdown timed out; exiting with requests still in flight');
      process.exit(1);
    }, config.SHUTDOWN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    // Out of the registry first, so callers stop picking this instance while it still answers.
    await registration?.drain();
    await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DELAY_MS));
    await app.close();
    await discovery.stop();
    await registry?.close().catch(() => {});
    await telemetry.shutdown().catch(() => {});
    app.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // Spawned by the launcher with an IPC channel: if the launcher dies, do not live on as an orphan.
  if (process.send) process.once('disconnect', () => void stop('launcher went away'));
  process.on('uncaughtException', (error) => {
    app.log.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (error) => {
    app.log.fatal({ err: error }, 'unhandled rejection');
    process.exit(1);
  });

  // With REUSE_PORT several processes of one service share the port; the kernel spreads connections.
  const address = await app.listen({ port: config.PORT, host: config.HOST, ...(config.REUSE_PORT ? { reusePort: true } : {}) } as never);
  if (registry && !stopping) {
    registration = new Registration({
      registry,
      heartbeatMs: config.HEARTBEAT_MS,
      log: app.log,
      instance: {
        id: instanceId(module.name),
        service: module.name,
        url: advertisedUrl(config.HOST, (app.server.address() as AddressInfo).port, config.ADVERTISE_URL),
        version: config.SERVICE_VERSION ?? module.version ?? '0.1.0',
        pid: process.pid,
        host: hostname(),
        metadata: parseInstanceMetadata(config.INSTANCE_METADATA),
      },
      status: async () => instanceStatus(await context.health.readiness()),
    });
    await registration.start();
  }
  process.send?.({ type: 'ready', service: module.name, address });
}
