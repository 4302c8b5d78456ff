import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';

/** The part of a (pino) logger a shared store reports its outages to. */
export interface SharedStoreLog {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

/**
 * Bounds on every Redis call. A shared store of limits sits on the path of the
 * requests it limits, so Redis being slow or gone must cost milliseconds, not
 * hang a request: no offline queue (a command while disconnected fails at once),
 * no retry of a command caught by a disconnection, a short connect timeout and a
 * command timeout. The caller answers a failed call from memory.
 */
const REDIS_CONNECT_TIMEOUT_MS = 1_000;
const REDIS_COMMAND_TIMEOUT_MS = 250;
const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;

export interface SharedRedis {
  redis: Redis;
  /** Resolves once connected, or after the connect timeout if not. Never rejects. */
  connected: Promise<void>;
  close(): Promise<void>;
}

/**
 * A Redis client for state that replicas share but can do without for a while
 * (rate limits, login throttles): it reconnects in the background forever, with
 * a bounded back-off, while the caller falls back to memory. The loss is logged
 * once per outage (`degraded`), the recovery once (`restored`); the URL is logged
 * without its credentials.
 */
export function connectSharedRedis(url: string, options: { connectionName: string; log?: SharedStoreLog | undefined; degraded: string; restored: string }): SharedRedis {
  const redis = new Redis(url, {
    connectionName: options.connectionName,
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
    options.log?.warn({ redis: where, reason }, options.degraded);
  };
  redis.on('error', (error: Error) => loseConnection(error.message));
  redis.on('close', () => loseConnection('connection closed'));
  redis.on('ready', () => {
    if (!lost) return;
    lost = false;
    options.log?.info({ redis: where }, options.restored);
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

/**
 * A budget (`points` per `duration` seconds per key) counted in the shared Redis,
 * with an in-memory insurance limiter of the same budget: while Redis is not ready
 * (connecting, reconnecting) it answers at once, without a round trip; a command
 * that fails or times out is answered by it too. Softer for the length of an
 * outage (per replica), never open.
 */
export function insuredLimiter(shared: SharedRedis, budget: { keyPrefix: string; points: number; duration: number }): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: shared.redis,
    ...budget,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: budget.points, duration: budget.duration }),
  });
}
