import { Type, extendConfig } from '@bazaar/chassis';
import { routedServices, serviceUrlVariable } from '@bazaar/topology';

/** One `<SERVICE>_URL` per service the gateway routes to, straight from the topology. */
const upstreamUrls = Object.fromEntries(routedServices.map((service) => [serviceUrlVariable(service), Type.String({ format: 'uri' })]));

export const GatewayConfig = extendConfig({
  ...upstreamUrls,
  /** Browser origins allowed to call the API (comma-separated). */
  CORS_ORIGINS: Type.String({ default: 'http://localhost:8080,http://127.0.0.1:8080' }),
  /** Requests per minute per client IP across all routes. */
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 600 }),
  /** Requests per minute per authenticated user (on top of the IP budget), whatever address they come from. */
  RATE_LIMIT_PER_USER_PER_MINUTE: Type.Integer({ minimum: 1, default: 1_200 }),
  /** Redis for the rate-limit budgets, shared by every gateway replica (distributed mode); in memory per replica without it. */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  /** Prefix of the rate-limit keys in Redis; gateways sharing budgets use the same one (another system on the same Redis, another). */
  RATE_LIMIT_REDIS_PREFIX: Type.String({ minLength: 1, default: 'bazaar:rl' }),
  /** Public catalog reads are cached this long at most; catalog events clear them sooner. 0 turns the cache off. */
  CATALOG_CACHE_TTL_MS: Type.Integer({ minimum: 0, default: 30_000 }),
  CATALOG_CACHE_MAX_ENTRIES: Type.Integer({ minimum: 1, default: 1_000 }),
  /** How long the storefront home waits for each attempt at each of its parts (a failed GET is tried twice) before answering without it. */
  STOREFRONT_PART_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 1_500 }),
  /** Time an upstream gets to send its response headers before the gateway answers 504. */
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** Access-log lines for proxied requests: `errors` (4xx/5xx, failures, slow) or `all`. Services log every request themselves. */
  ACCESS_LOG: Type.Union([Type.Literal('errors'), Type.Literal('all')], { default: 'errors' }),
  /** A proxied request slower than this is logged even when ACCESS_LOG=errors. */
  SLOW_REQUEST_MS: Type.Integer({ minimum: 0, default: 1_000 }),
  /** Time each service gets to replay its whole dead-letter queue (`POST /api/admin/dlq/replay`); other admin calls use UPSTREAM_TIMEOUT_MS. */
  DLQ_REPLAY_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  /** Where people look at traces (the local trace console under npm start): the web app links an order to its checkout's trace there. */
  TRACE_CONSOLE_URL: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://' })),
  /** Keep-alive connections per upstream. */
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, default: 128 }),
});
