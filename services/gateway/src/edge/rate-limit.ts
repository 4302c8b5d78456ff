import { AppError } from '@bazaar/chassis';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateLimitDecision {
  allowed: boolean;
  /** Standard `RateLimit-*` response headers (IETF draft), plus `Retry-After` when refused. */
  headers: Record<string, string>;
  /** When refused: the budget that ran out (the user's when both did), for {@link rateLimitExceeded}. */
  refusedBy?: 'ip' | 'user';
}

export interface RateLimitOptions {
  /** Requests per minute per client IP, authenticated or not. */
  perIpPerMinute: number;
  /** Requests per minute per authenticated user (on top of the IP budget). */
  perUserPerMinute: number;
  /**
   * Redis shared by every gateway replica: the budgets are then system-wide
   * rather than per replica. Without it, each replica counts in memory.
   */
  redisUrl?: string;
  /** Prefix of the Redis keys; replicas sharing a budget use the same one. Default `bazaar:rl`. */
  keyPrefix?: string;
  log?: Pick<FastifyBaseLogger, 'warn' | 'info'>;
}

export interface RateLimiter {
  /** Consumes one point for the IP and, when the caller is authenticated, one for the user; refused when either is exhausted. */
  check(client: { ip: string; user?: string }): Promise<RateLimitDecision>;
  readonly store: 'memory' | 'redis';
  /**
   * Resolves once the shared store is connected, or after the connect timeout if
   * it is not (the insurance limiters answer meanwhile): awaited at start-up, so a
   * replica that just started does not hand out budgets of its own while a
   * reachable Redis is still connecting. Never rejects.
   */
  connected(): Promise<void>;
  close(): Promise<void>;
}

const WINDOW_SECONDS = 60;

/**
 * Bounds on every Redis call. The limiter sits on the path of every request, so
 * Redis being slow or gone must cost milliseconds, not hang the request: no
 * offline queue (a command while disconnected fails at once), no retry of a
 * command caught by a disconnection, a short connect timeout and a command timeout. A failed call is answered by
 * the in-memory insurance limiter.
 */
const REDIS_CONNECT_TIMEOUT_MS = 1_000;
const REDIS_COMMAND_TIMEOUT_MS = 250;
const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * Fixed-window request budgets per client IP and per authenticated user.
 *
 * With `redisUrl`, the windows live in Redis, shared by every gateway replica
 * using the same key prefix. Each Redis limiter carries an in-memory insurance
 * limiter with the same budget: while Redis is unreachable (or not yet
 * connected), each replica enforces the limits on its own instead of failing or
 * delaying requests — the budget is then per replica, a softer limit for the
 * length of the outage.
 */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const prefix = options.keyPrefix ?? 'bazaar:rl';
  const policies = {
    ip: { limit: options.perIpPerMinute, scope: 'ip' as const, header: `${options.perIpPerMinute};w=${WINDOW_SECONDS}` },
    user: { limit: options.perUserPerMinute, scope: 'user' as const, header: `${options.perUserPerMinute};w=${WINDOW_SECONDS}` },
  };
  if (!options.redisUrl) {
    const ip = new RateLimiterMemory({ points: policies.ip.limit, duration: WINDOW_SECONDS });
    const user = new RateLimiterMemory({ points: policies.user.limit, duration: WINDOW_SECONDS });
    return {
      store: 'memory',
      check: (client) => decide(client, { ip, user }, policies, false),
      connected: async () => {},
      close: async () => {},
    };
  }

  const { redis, connected, close } = connectRedis(options.redisUrl, options.log);
  const shared = (scope: 'ip' | 'user', points: number): RateLimiterRedis =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:${scope}`,
      points,
      duration: WINDOW_SECONDS,
      // Not ready (connecting, reconnecting): straight to the insurance limiter, without a round trip.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ points, duration: WINDOW_SECONDS }),
    });
  const limiters = { ip: shared('ip', policies.ip.limit), user: shared('user', policies.user.limit) };
  return {
    store: 'redis',
    check: (client) => decide(client, limiters, policies, true),
    connected: () => connected,
    close,
  };
}

interface Policy {
  limit: number;
  scope: 'ip' | 'user';
  /** This quota as a `RateLimit-Policy` item, e.g. `600;w=60`. */
  header: string;
}

interface Outcome {
  policy: Policy;
  allowed: boolean;
  result: RateLimiterRes;
}

async function decide(
  client: { ip: string; user?: string },
  limiters: { ip: RateLimiterAbstract; user: RateLimiterAbstract },
  policies: { ip: Policy; user: Policy },
  /** Both budgets at once, for Redis: one round trip, not two in a row. In memory, one after the other is cheaper (no Promise.all). */
  together: boolean,
): Promise<RateLimitDecision> {
  // On every proxied request: no arrays, closures or joins beyond what the answer needs.
  if (client.user === undefined) return decision(await consume(limiters.ip, client.ip, policies.ip), undefined);
  if (!together) return decision(await consume(limiters.ip, client.ip, policies.ip), await consume(limiters.user, client.user, policies.user));
  const [ip, user] = await Promise.all([consume(limiters.ip, client.ip, policies.ip), consume(limiters.user, client.user, policies.user)]);
  return decision(ip, user);
}

/**
 * The answer for one or two budgets. The headers describe the limit closest to
 * biting: when refused, the one that refuses for longest (Retry-After must not
 * invite a request that is refused again); otherwise the one with the fewest
 * requests left. `RateLimit-Policy` lists every quota applied, the closest first.
 */
function decision(first: Outcome, second: Outcome | undefined): RateLimitDecision {
  let tightest = first;
  if (second) {
    if (!first.allowed || !second.allowed) {
      if (first.allowed || (!second.allowed && second.result.msBeforeNext > first.result.msBeforeNext)) tightest = second;
    } else if (remaining(second) < remaining(first)) {
      tightest = second;
    }
  }
  const other = second === undefined ? undefined : tightest === first ? second : first;
  const headers: Record<string, string> = {
    'ratelimit-limit': String(tightest.policy.limit),
    'ratelimit-remaining': String(remaining(tightest)),
    'ratelimit-reset': String(secondsBeforeReset(tightest.result)),
    'ratelimit-policy': other ? `${tightest.policy.header}, ${other.policy.header}` : tightest.policy.header,
  };
  if (first.allowed && (second === undefined || second.allowed)) return { allowed: true, headers };
  headers['retry-after'] = headers['ratelimit-reset']!;
  return { allowed: false, headers, refusedBy: second !== undefined && !second.allowed ? 'user' : 'ip' };
}

async function consume(limiter: RateLimiterAbstract, key: string, policy: Policy): Promise<Outcome> {
  try {
    return { policy, allowed: true, result: await limiter.consume(key) };
  } catch (rejection) {
    // Anything but a RateLimiterRes is a store failure the insurance limiter did not absorb: a bug.
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    return { policy, allowed: false, result: rejection };
  }
}

function remaining(outcome: Outcome): number {
  return Math.max(0, outcome.result.remainingPoints);
}

function secondsBeforeReset(result: RateLimiterRes): number {
  return Math.max(1, Math.ceil(result.msBeforeNext / 1000));
}

/**
 * The Redis client behind the shared limits. It reconnects in the background
 * forever (with a bounded back-off) while requests are answered by the insurance
 * limiters. Connection loss is logged once per outage, and the recovery once.
 */
function connectRedis(url: string, log: RateLimitOptions['log']): { redis: Redis; connected: Promise<void>; close: () => Promise<void> } {
  const redis = new Redis(url, {
    connectionName: 'bazaar-gateway-rate-limit',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(REDIS_MAX_RECONNECT_DELAY_MS, attempt * 100),
  });
  const where = redactedUrl(url);
  let lost = false;
  let closing = false;
  const loseConnection = (reason: string): void => {
    if (lost || closing) return;
    lost = true;
    log?.warn({ redis: where, reason }, 'rate-limit store unreachable: limits are per gateway replica until it is back');
  };
  redis.on('error', (error: Error) => loseConnection(error.message));
  redis.on('close', () => loseConnection('connection closed'));
  redis.on('ready', () => {
    if (!lost) return;
    lost = false;
    log?.info({ redis: where }, 'rate-limit store reachable again: limits are shared by every gateway replica');
  });
  const connected = new Promise<void>((resolve) => {
    const giveUp = setTimeout(resolve, REDIS_CONNECT_TIMEOUT_MS);
    giveUp.unref();
    redis.once('ready', () => {
      clearTimeout(giveUp);
      resolve();
    });
  });
  const close = async (): Promise<void> => {
    closing = true;
    // QUIT when connected (in-flight commands finish); otherwise just stop reconnecting.
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  };
  return { redis, connected, close };
}

/** The URL without its credentials, for logs. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparseable Redis URL)';
  }
}

/** The answer to a refused request, the same on the data plane and on the gateway's own routes. */
export function rateLimitExceeded(scope: 'ip' | 'user' = 'ip'): AppError {
  return new AppError('RATE_LIMITED', scope === 'user' ? 'Slow down: too many requests from this account' : 'Slow down: too many requests from this address');
}
