import type { CallPolicy } from '@bazaar/topology';
import { CircuitState, CountBreaker, circuitBreaker, type CircuitBreakerPolicy, type Policy } from 'cockatiel';

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

/**
 * The breaker a policy declares (calls and saga commands share its shape): cockatiel's
 * `CountBreaker` over the last `windowCalls` outcomes that `handles` counts as
 * failures, and the trial clock that goes with it.
 */
export function countBreaker(handles: Policy, settings: CallPolicy['breaker']): { breaker: CircuitBreakerPolicy; trial: BreakerTrial } {
  const breaker = circuitBreaker(handles, {
    halfOpenAfter: settings.halfOpenAfterMs,
    breaker: new CountBreaker({ threshold: settings.failureRatio, size: settings.windowCalls, minimumNumberOfCalls: settings.minimumCalls }),
  });
  return { breaker, trial: new BreakerTrial(breaker, settings.halfOpenAfterMs) };
}
