import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError, type Database, type Queryable } from '@bazaar/chassis';
import { connectSharedRedis, insuredLimiter, type SharedRedis, type SharedStoreLog } from '@bazaar/chassis/redis';

export interface LoginThrottleOptions {
  accountMaxFailures: number;
  accountWindowSeconds: number;
  ipMaxFailures: number;
  ipWindowSeconds: number;
  /**
   * Identity's database pool: the counters live in its `login_attempts` table, so
   * every replica over the same database shares them. The default store of the
   * service; only a throttle without a database or Redis counts in memory.
   */
  database?: Database | undefined;
  /**
   * Redis shared by every identity replica (REDIS_URL), preferred to the database
   * when set (the gateway's limits live there too).
   */
  redisUrl?: string | undefined;
  /** Prefix of the Redis keys; replicas sharing the limits use the same one. Default `bazaar:login`. */
  keyPrefix?: string;
  log?: SharedStoreLog;
}

/** One limit: `points` attempts per `duration` seconds, under its own key prefix. */
interface Budget {
  keyPrefix: string;
  points: number;
  duration: number;
}

/** Created by identity's migration 0002; rate-limiter-flexible only writes and reads it. */
const LOGIN_ATTEMPTS_TABLE = 'login_attempts';

/** Counter rows an hour past their window are deleted (the library's own rule, run by identity's hourly pruning). */
const EXPIRED_ROW_GRACE_MS = 3_600_000;

/** Deletes the database store's counters whose window ended over an hour ago; returns how many. */
export async function pruneLoginAttempts(db: Queryable, now = Date.now()): Promise<number> {
  const result = await db.query(`DELETE FROM ${LOGIN_ATTEMPTS_TABLE} WHERE expire < $1`, [now - EXPIRED_ROW_GRACE_MS]);
  return result.rowCount ?? 0;
}

/**
 * Login attempt limits per account (normalized email, whether or not it exists) and
 * per client IP. Every attempt takes a point up front, so parallel guesses cannot
 * slip past the limit; a successful login gives the points back (the account's
 * counter is reset). A refused attempt never reaches the password check.
 *
 * The counters are system-wide: in identity's own database by default (a login
 * needs that database anyway, so the limits fail with it and never open), or with
 * `redisUrl` in Redis, each with an in-memory insurance limiter of the same budget:
 * while Redis is unreachable (or still connecting), each replica enforces the
 * limits on its own instead of failing logins — softer for the length of the
 * outage, never open. Counting in memory is for a throttle without either.
 */
export class LoginThrottle {
  readonly store: 'memory' | 'postgres' | 'redis';
  readonly #accounts: RateLimiterAbstract;
  readonly #ips: RateLimiterAbstract;
  readonly #shared: SharedRedis | undefined;

  constructor(options: LoginThrottleOptions) {
    const prefix = options.keyPrefix ?? 'bazaar:login';
    const { redisUrl, database } = options;
    let limiter: (budget: Budget) => RateLimiterAbstract;
    if (redisUrl) {
      this.store = 'redis';
      const shared = connectSharedRedis(redisUrl, {
        connectionName: 'bazaar-identity-login-throttle',
        log: options.log,
        degraded: 'login-throttle store unreachable: login limits are per identity replica until it is back',
        restored: 'login-throttle store reachable again: login limits are shared by every identity replica',
      });
      this.#shared = shared;
      limiter = (budget) => insuredLimiter(shared, budget);
    } else if (database) {
      this.store = 'postgres';
      const table = { storeClient: database.pool, storeType: 'pool', tableName: LOGIN_ATTEMPTS_TABLE, tableCreated: true, clearExpiredByTimeout: false };
      limiter = (budget) => new RateLimiterPostgres({ ...table, ...budget });
    } else {
      this.store = 'memory';
      limiter = (budget) => new RateLimiterMemory(budget);
    }
    this.#accounts = limiter({ keyPrefix: `${prefix}:account`, points: options.accountMaxFailures, duration: options.accountWindowSeconds });
    this.#ips = limiter({ keyPrefix: `${prefix}:ip`, points: options.ipMaxFailures, duration: options.ipWindowSeconds });
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
