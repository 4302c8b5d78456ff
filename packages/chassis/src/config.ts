import { Type, type Static, type TObject, type TProperties } from 'typebox';
import Value from 'typebox/value';
import { MESSAGE_PARTITIONS } from '@bazaar/contracts/messages/asyncapi';
import { TRACE_SAMPLERS } from './telemetry.ts';

/** Thrown at boot when the environment does not satisfy the service's config schema. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Variables every service understands. Services extend this with their own. */
export const BaseConfig = Type.Object({
  SERVICE_NAME: Type.String({ minLength: 1 }),
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535 }),
  /**
   * The base URL other processes reach this instance on, as registered in the
   * registry (e.g. `http://$(POD_IP):4002` on Kubernetes). By default the listener's
   * address, a wildcard one as loopback: right only when every caller is on this host.
   */
  ADVERTISE_URL: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://' })),
  LOG_LEVEL: Type.Union(
    [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
    { default: 'info' },
  ),
  /** Let several processes of this service listen on one port (SO_REUSEPORT, Linux). */
  REUSE_PORT: Type.Boolean({ default: false }),
  /** Max request body in bytes. */
  BODY_LIMIT: Type.Integer({ minimum: 1024, default: 1_048_576 }),
  /** How long in-flight requests get to finish after SIGTERM before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000 }),
  /** Delay between readiness flipping to 503 and the listener closing (lets load balancers notice). */
  SHUTDOWN_DELAY_MS: Type.Integer({ minimum: 0, default: 0 }),
  /** Proxies whose X-Forwarded-For is believed: empty (none), `true`, or addresses/CIDRs such as `loopback`. */
  TRUST_PROXY: Type.String({ default: '' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ format: 'uri' })),
  /** Milliseconds finished spans wait to be exported in one batch (OpenTelemetry's variable; its default 5000). */
  OTEL_BSP_SCHEDULE_DELAY: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
  /** Which traces are recorded when spans are exported (OpenTelemetry's variable and names); `parentbased_always_on`, every one, by default. */
  OTEL_TRACES_SAMPLER: Type.Optional(Type.Union(TRACE_SAMPLERS.map((name) => Type.Literal(name)))),
  /** The share of new traces `traceidratio` and `parentbased_traceidratio` record, 0 to 1 (1 by default). */
  OTEL_TRACES_SAMPLER_ARG: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Issuer and audience of access tokens (identity signs them, everyone verifies). */
  JWT_ISSUER: Type.String({ default: 'bazaar-identity' }),
  JWT_AUDIENCE: Type.String({ default: 'bazaar' }),
  /**
   * The message broker: `postgres://…` (the embedded broker's own database) or
   * `nats://host:port` (NATS JetStream). Required by services that publish or consume.
   */
  BROKER_URL: Type.Optional(Type.String({ pattern: '^(postgres|postgresql|nats)://' })),
  /** NATS only: prefix of subjects and streams (`bazaar.events.…`, `BAZAAR_EVENTS`), to run several systems on one server. */
  BROKER_PREFIX: Type.String({ pattern: '^[a-z][a-z0-9_-]*$', default: 'bazaar' }),
  /**
   * NATS only: partitions per domain and consumer group (a key's messages share one).
   * Every process must use the same number; change it only with no backlog (ADR 0015).
   */
  BROKER_PARTITIONS: Type.Integer({ minimum: 1, maximum: 256, default: MESSAGE_PARTITIONS }),
  /** Deliveries of a failing message before it moves to the dead-letter queue. */
  MESSAGE_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  /** Base of the exponential backoff (full jitter) between deliveries of a failing message. */
  MESSAGE_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 200 }),
  /**
   * How long a delivery stays with a consumer that neither settles nor renews it (it
   * died). A handler still running renews it every third. Shorter than the saga's
   * step deadline (15 s): a reply claimed by a process that was then killed reaches
   * its restarted successor before the step times out.
   */
  MESSAGE_LEASE_MS: Type.Integer({ minimum: 500, default: 5_000 }),
  /** How long published outbox rows are kept before pruning. */
  OUTBOX_RETENTION_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),
  /**
   * Changes to the declared call policies (packages/topology/src/call-policies.ts), as JSON by
   * dependency (`*` = all), e.g. `{"catalog":{"timeoutMs":1000,"bulkhead":{"maxConcurrent":8}}}`.
   */
  CALL_POLICY_OVERRIDES: Type.String({ default: '{}' }),
  /** Keep-alive connections this service opens to each instance of a dependency. */
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, default: 32 }),
  /** Lets `npm run chaos` (and tests) inject latency, errors, resets and blackholes through /internal/faults. Never in production. */
  FAULT_INJECTION: Type.Boolean({ default: false }),
  /**
   * How callers find this service's peers: `registry` (instances register in the
   * registry at REGISTRY_URL and heartbeat; callers balance over the live ones) or
   * `static` (only the `<SERVICE>_URL` variables, e.g. Kubernetes Service names).
   */
  DISCOVERY: Type.Union([Type.Literal('registry'), Type.Literal('static')], { default: 'registry' }),
  /** The service registry: `postgres://…` (a table) or `nats://…` (a JetStream KV bucket). Defaults to BROKER_URL. */
  REGISTRY_URL: Type.Optional(Type.String({ pattern: '^(postgres|postgresql|nats)://' })),
  /** How often an instance renews its registration and reports its readiness. */
  HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 2_000 }),
  /** How long an instance stays listed after its last heartbeat (it was killed); a few heartbeats. */
  REGISTRY_TTL_MS: Type.Integer({ minimum: 300, default: 6_000 }),
  /** The version this instance registers with; by default the service's own. */
  SERVICE_VERSION: Type.Optional(Type.String({ minLength: 1 })),
  /** Labels this instance registers with, `key=value` pairs separated by commas (e.g. `replica=2,zone=a`). */
  INSTANCE_METADATA: Type.Optional(Type.String({ pattern: '^[^=,]+=[^,]*(,[^=,]+=[^,]*)*$' })),
});
export type BaseConfig = Static<typeof BaseConfig>;

/**
 * Reads `env` against `schema`: converts strings to the declared types, applies
 * defaults, and fails with every offending variable named. Unknown variables are
 * ignored (the environment holds much more than our config).
 */
export function loadConfig<T extends TProperties>(schema: TObject<T>, env: Record<string, string | undefined> = process.env): Static<TObject<T>> {
  const candidate: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw !== '') candidate[key] = raw;
  }
  const withDefaults = Value.Default(schema, candidate);
  const converted = Value.Convert(schema, withDefaults);
  if (Value.Check(schema, converted)) return converted as Static<TObject<T>>;

  const problems = Value.Errors(schema, converted).map((error) => {
    const variable = variableOf(error.instancePath, error.params);
    const shown = variable in candidate ? ` (got ${JSON.stringify(redact(variable, candidate[variable]))})` : '';
    return `${variable}: ${error.message}${shown}`;
  });
  throw new ConfigError([...new Set(problems)]);
}

function variableOf(instancePath: string, params: unknown): string {
  const fromPath = instancePath.split('/').filter(Boolean)[0];
  if (fromPath) return fromPath;
  const missing = (params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
  return missing?.join(', ') ?? '(config)';
}

const secretLike = /PASSWORD|SECRET|TOKEN|KEY|DATABASE_URL|BROKER_URL|REGISTRY_URL|SMTP_URL|REDIS_URL/i;

/** Never echo a secret back in a config error. */
function redact(variable: string, value: unknown): unknown {
  return secretLike.test(variable) ? '***' : value;
}

/** Combines the base config schema with a service's own variables. */
export function extendConfig<T extends TProperties>(properties: T) {
  return Type.Object({ ...BaseConfig.properties, ...properties });
}
