import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '@bazaar/chassis';

export interface LoginThrottleOptions {
  accountMaxFailures: number;
  accountWindowSeconds: number;
  ipMaxFailures: number;
  ipWindowSeconds: number;
}

/**
 * Login attempt limits per account (normalized email, whether or not it exists) and
 * per client IP. Every attempt takes a point up front, so parallel guesses cannot
 * slip past the limit; a successful login gives the points back (the account's
 * counter is reset). A refused attempt never reaches the password check.
 *
 * Counters live in process memory: with N replicas the effective limit is N times
 * higher; a shared store (Redis) is the distributed-mode adapter.
 */
export class LoginThrottle {
  readonly #accounts: RateLimiterMemory;
  readonly #ips: RateLimiterMemory;

  constructor(options: LoginThrottleOptions) {
    this.#accounts = new RateLimiterMemory({ keyPrefix: 'login-account', points: options.accountMaxFailures, duration: options.accountWindowSeconds });
    this.#ips = new RateLimiterMemory({ keyPrefix: 'login-ip', points: options.ipMaxFailures, duration: options.ipWindowSeconds });
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

  async #consume(limiter: RateLimiterMemory, key: string, detail: string): Promise<void> {
    try {
      await limiter.consume(key, 1);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new AppError('LOGIN_THROTTLED', `${detail}; try again in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
    }
  }
}
