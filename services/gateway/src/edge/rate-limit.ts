import { AppError } from '@bazaar/chassis';
import { connectSharedRedis, insuredLimiter } from '@bazaar/chassis/redis';
import type { FastifyBaseLogger } from 'fastify';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

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

  // Without Redis (connecting, or down), the insurance limiters answer.
  const store = connectSharedRedis(options.redisUrl, {
    connectionName: 'bazaar-gateway-rate-limit',
    log: options.log,
    degraded: 'rate-limit store unreachable: limits are per gateway replica until it is back',
    restored: 'rate-limit store reachable again: limits are shared by every gateway replica',
  });
  const shared = (scope: 'ip' | 'user', points: number) => insuredLimiter(store, { keyPrefix: `${prefix}:${scope}`, points, duration: WINDOW_SECONDS });
  const limiters = { ip: shared('ip', policies.ip.limit), user: shared('user', policies.user.limit) };
  return {
    store: 'redis',
    check: (client) => decide(client, limiters, policies, true),
    connected: () => store.connected,
    close: store.close,
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

function decide(
  client: { ip: string; user?: string },
  limiters: { ip: RateLimiterAbstract; user: RateLimiterAbstract },
  policies: { ip: Policy; user: Policy },
  /** Both budgets at once, for Redis: one round trip, not two in a row. In memory, one after the other is cheaper (no Promise.all). */
  together: boolean,
): Promise<RateLimitDecision> {
  // On every proxied request: no arrays, closures or joins beyond what the answer needs, and one promise per budget.
  const ip = consume(limiters.ip, client.ip, policies.ip);
  const user = client.user;
  if (user === undefined) return ip.then(alone);
  if (!together) return ip.then((first) => consume(limiters.user, user, policies.user).then((second) => decision(first, second)));
  return Promise.all([ip, consume(limiters.user, user, policies.user)]).then(([first, second]) => decision(first, second));
}

const alone = (outcome: Outcome) => decision(outcome, undefined);

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

function consume(limiter: RateLimiterAbstract, key: string, policy: Policy): Promise<Outcome> {
  return limiter.consume(key).then(
    (result) => ({ policy, allowed: true, result }),
    (rejection: unknown) => {
      // Anything but a RateLimiterRes is a store failure the insurance limiter did not absorb: a bug.
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return { policy, allowed: false, result: rejection };
    },
  );
}

function remaining(outcome: Outcome): number {
  return Math.max(0, outcome.result.remainingPoints);
}

function secondsBeforeReset(result: RateLimiterRes): number {
  return Math.max(1, Math.ceil(result.msBeforeNext / 1000));
}

/** The answer to a refused request, the same on the data plane and on the gateway's own routes. */
export function rateLimitExceeded(scope: 'ip' | 'user' = 'ip'): AppError {
  return new AppError('RATE_LIMITED', scope === 'user' ? 'Slow down: too many requests from this account' : 'Slow down: too many requests from this address');
}
