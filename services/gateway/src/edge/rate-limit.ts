import { AppError } from '@bazaar/chassis';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface RateLimitDecision {
  allowed: boolean;
  /** Standard `RateLimit-*` response headers (IETF draft), plus `Retry-After` when refused. */
  headers: Record<string, string>;
}

export type RateLimit = (key: string) => Promise<RateLimitDecision>;

/**
 * Fixed-window request budget per key (client IP today), held in memory.
 * rate-limiter-flexible offers the same limiter over Redis for several gateway
 * replicas; swapping the store does not change this interface.
 */
export function createRateLimit(pointsPerMinute: number): RateLimit {
  const limiter = new RateLimiterMemory({ points: pointsPerMinute, duration: 60 });
  const limit = String(pointsPerMinute);
  return async (key) => {
    try {
      const result = await limiter.consume(key);
      return { allowed: true, headers: headersFor(limit, result) };
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const headers = headersFor(limit, rejection);
      headers['retry-after'] = headers['ratelimit-reset']!;
      return { allowed: false, headers };
    }
  };
}

function headersFor(limit: string, result: RateLimiterRes): Record<string, string> {
  return {
    'ratelimit-limit': limit,
    'ratelimit-remaining': String(Math.max(0, result.remainingPoints)),
    'ratelimit-reset': String(Math.max(1, Math.ceil(result.msBeforeNext / 1000))),
  };
}

/** The answer to a refused request, the same on the data plane and on the gateway's own routes. */
export function rateLimitExceeded(): AppError {
  return new AppError('RATE_LIMITED', 'Slow down: too many requests from this address');
}
