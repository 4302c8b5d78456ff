import { CircuitState, type CircuitBreakerPolicy } from 'cockatiel';

/**
 * When an open cockatiel breaker lets its trial through: it remembers when the
 * breaker opened, so a caller can refuse at once while the trial is not yet due
 * (without asking cockatiel, which builds an error with a stack trace) and say
 * in `Retry-After` when to come back.
 */
export class BreakerTrial {
  private readonly breaker: CircuitBreakerPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(breaker: CircuitBreakerPolicy, halfOpenAfterMs: number) {
    this.breaker = breaker;
    this.halfOpenAfterMs = halfOpenAfterMs;
    breaker.onBreak(() => void (this.openedAt = Date.now()));
  }

  /** Whether the breaker is open and its trial not yet due: calls are refused. */
  refusing(): boolean {
    return this.breaker.state === CircuitState.Open && this.untilTrialMs() > 0;
  }

  /** Seconds until the trial is due, at least 1 (a `Retry-After` value). */
  retryAfter(): string {
    return String(Math.max(1, Math.ceil(this.untilTrialMs() / 1_000)));
  }

  private untilTrialMs(): number {
    return this.openedAt + this.halfOpenAfterMs - Date.now();
  }
}
