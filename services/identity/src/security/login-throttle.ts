import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '@bazaar/chassis';
import { connectSharedRedis, insuredLimiter, type SharedRedis, type SharedStoreLog } from '@bazaar/chassis/redis';

export interface LoginThrottleOptions {
  accountMaxFailures: number;
  accountWindowSeconds: number;
  ipMaxFailures: number;
  ipWindowSeconds: number;
  /**
   * Redis shared by every identity replica (REDIS_URL): the limits are then
   * system-wide. Without it, each replica counts in its own memory, so with N
   * replicas an attacker gets N times the attempts.
   */
  redisUrl?: string | undefined;
  /** Prefix of the Redis keys; replicas sharing the limits use the same one. Default `bazaar:login`. */
  keyPrefix?: string;
  log?: SharedStoreLog;
}

/**
 * Login attempt limits per account (normalized email, whether or not it exists) and
 * per client IP. Every attempt takes a point up front, so parallel guesses cannot
 * slip past the limit; a successful login gives the points back (the account's
 * counter is reset). A refused attempt never reaches the password check.
 *
 * With `redisUrl` the counters live in Redis (rate-limiter-flexible), each with an
 * in-memory insurance limiter of the same budget: while Redis is unreachable (or
 * still connecting), each replica enforces the limits on its own instead of
 * failing logins — softer for the length of the outage, never open.
 */
export class LoginThrottle {
  readonly store: 'memory' | 'redis';
  readonly #accounts: RateLimiterAbstract;
  readonly #ips: RateLimiterAbstract;
  readonly #shared: SharedRedis | undefined;

  constructor(options: LoginThrottleOptions) {
    const prefix = options.keyPrefix ?? 'bazaar:login';
    const account = { points: options.accountMaxFailures, duration: options.accountWindowSeconds };
    const ip = { points: options.ipMaxFailures, duration: options.ipWindowSeconds };
    if (!options.redisUrl) {
      this.store = 'memory';
      this.#accounts = new RateLimiterMemory({ keyPrefix: `${prefix}:account`, ...account });
      this.#ips = new RateLimiterMemory({ keyPrefix: `${prefix}:ip`, ...ip });
      return;
    }
    this.store = 'redis';
    const shared = connectSharedRedis(options.redisUrl, {
      connectionName: 'bazaar-identity-login-throttle',
      log: options.log,
      degraded: 'login-throttle store unreachable: login limits are per identity replica until it is back',
      restored: 'login-throttle store reachable again: login limits are shared by every identity replica',
    });
    this.#shared = shared;
    this.#accounts = insuredLimiter(shared, { keyPrefix: `${prefix}:account`, ...account });
    this.#ips = insuredLimiter(shared, { keyPrefix: `${prefix}:ip`, ...ip });
  }

  /** Resolves once the shared store is connected, or after its connect timeout (at most 1 s); at once in memory. Never rejects. */
  connected(): Promise<void> {
    return this.#shared?.connected ?? Promise.resolve();
  }

  /** Counts an attempt; throws 429 LOGIN_THROTTLED (with Retry-After) when a limit is reached. */
  async attempt(email: string, ip: string): Promise<void> {
    await this.#consume(this.#ips, ip, 'Too many login attempts from this address');
    await this.#consume(this.#accounts, email, 'Too many failed login attempts for this account');
  }

  /** The attempt succeeded: the account starts afresh and the IP gets its point back. */
  async succeeded(email: string, ip: string): Promise<void> {
    await Promise.all([this.#accounts.delete(email), this.#ips.reward(ip, 1)]);
  }

  async close(): Promise<void> {
    await this.#shared?.close();
  }

  async #consume(limiter: RateLimiterAbstract, key: string, detail: string): Promise<void> {
    try {
      await limiter.consume(key, 1);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new AppError('LOGIN_THROTTLED', `${detail}; try again in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
    }
  }
}
