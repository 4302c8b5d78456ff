/**
 * How each service calls each of its dependencies: the resilience policies of
 * every outbound call, declared beside the topology. The chassis's upstream
 * client applies them in this order, outermost first:
 *
 *   bulkhead → retry (idempotent calls only, within the retry budget) → circuit breaker → instance (load balancer, outlier ejection) with a deadline
 *
 * so a call waits for a bulkhead slot once, each retry is a fresh attempt that
 * the breaker sees and the deadline bounds, and an open breaker or a full
 * bulkhead answers at once without touching the network.
 */
import type { ServiceName } from './index.ts';

export interface CallPolicy {
  /**
   * Deadline of one attempt: for its answer's headers, then for each wait between
   * body chunks (undici's headersTimeout and bodyTimeout); a gateway stream only
   * waits for its headers on the deadline.
   */
  readonly timeoutMs: number;
  readonly retry: {
    /** Attempts in all, the first included (1 = never retry). Only idempotent calls are retried. */
    readonly maxAttempts: number;
    /** Exponential backoff with full jitter: attempt n waits random(0, min(maxDelayMs, baseDelayMs · 2^n)). */
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
  };
  /**
   * Retries may add at most `ratio` of the calls made in the last 10 s, plus
   * `minPerSecond` per second, so an outage cannot multiply the load on the
   * dependency (Finagle's and gRPC's retry budgets work the same way).
   */
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number };
  /**
   * One breaker per dependency (over all its instances), counting the last
   * `windowCalls` attempts (Resilience4j's count-based window): it opens when
   * more than `failureRatio` of them failed (5xx, timeout, no connection) and at
   * least `minimumCalls` were made, answers at once while open, and lets one trial
   * call through after `halfOpenAfterMs`. A ratio over a window, not failures in a
   * row: with 10 % of calls failing at random, five in a row happen every few
   * thousand calls and would open a consecutive-failure breaker on a healthy service.
   */
  readonly breaker: { readonly failureRatio: number; readonly windowCalls: number; readonly minimumCalls: number; readonly halfOpenAfterMs: number };
  /** At most `maxConcurrent` calls in flight to the dependency and `maxQueue` waiting; more are refused at once. */
  readonly bulkhead: { readonly maxConcurrent: number; readonly maxQueue: number };
  /** How an attempt picks an instance among the live ones. */
  readonly balancer: 'round-robin' | 'least-outstanding';
  /**
   * An instance failing `consecutiveFailures` attempts in a row is left out for
   * `ejectMs` (doubling with each ejection in a row), never more than
   * `maxEjectedPercent` of the instances at once.
   */
  readonly outlier: { readonly consecutiveFailures: number; readonly ejectMs: number; readonly maxEjectedPercent: number };
}

/** What every call gets unless its dependency declares otherwise. */
export const defaultCallPolicy: CallPolicy = {
  timeoutMs: 5_000,
  retry: { maxAttempts: 3, baseDelayMs: 25, maxDelayMs: 500 },
  retryBudget: { ratio: 0.2, minPerSecond: 5 },
  breaker: { failureRatio: 0.5, windowCalls: 40, minimumCalls: 10, halfOpenAfterMs: 5_000 },
  bulkhead: { maxConcurrent: 64, maxQueue: 128 },
  balancer: 'least-outstanding',
  outlier: { consecutiveFailures: 3, ejectMs: 10_000, maxEjectedPercent: 50 },
};

export type CallPolicyOverride = {
  readonly [K in keyof CallPolicy]?: CallPolicy[K] extends object ? Partial<CallPolicy[K]> : CallPolicy[K];
};

/**
 * Declared exceptions, by caller then dependency (`'*'` = every dependency of the caller).
 * The gateway fronts everything, so its bulkheads are wider and its deadline is
 * the one clients see; SSE streams are exempt from the timeout (see the gateway).
 */
export const callPolicies: Partial<Record<ServiceName, Partial<Record<ServiceName | '*', CallPolicyOverride>>>> = {
  gateway: {
    '*': { timeoutMs: 10_000, bulkhead: { maxConcurrent: 512, maxQueue: 1_024 }, retry: { maxAttempts: 2 } },
  },
  orders: {
    // Placing an order waits on these two: fail fast rather than keep the customer waiting.
    catalog: { timeoutMs: 2_000 },
    payments: { timeoutMs: 3_000 },
  },
};

/** The policy `caller` applies to calls to `dependency`, with `overrides` (from configuration) on top. */
export function callPolicy(caller: string, dependency: string, overrides: Readonly<Record<string, CallPolicyOverride>> = {}): CallPolicy {
  const declared = callPolicies[caller as ServiceName];
  return [declared?.['*'], declared?.[dependency as ServiceName], overrides['*'], overrides[dependency]].reduce<CallPolicy>(merge, defaultCallPolicy);
}

/** `override`'s fields over `base`'s, one level deep (a sub-object merges with the base's). */
function merge<P extends object>(base: P, override: object | undefined): P {
  if (!override) return base;
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const current = (base as unknown as Record<string, unknown>)[key];
    merged[key] = typeof value === 'object' && value !== null && typeof current === 'object' ? { ...current, ...value } : value;
  }
  return merged as unknown as P;
}

/**
 * The policies of commands a service sends over the broker and whose replies
 * come back later (the checkout saga's commands to catalog, payments and
 * shipping). The step deadline is the timeout and a compensation resent with
 * backoff is the retry (both configured on the orchestrator); these add, per
 * participant, what a call policy has besides:
 */
export interface CommandPolicy {
  /**
   * Commands awaiting the participant's reply, counted over every replica of the
   * orchestrator (those it works on and those queued in the broker for it): at
   * this many, new work that needs the participant is refused at once (503
   * UPSTREAM_SATURATED) instead of queueing without bound.
   */
  readonly bulkhead: { readonly maxInFlight: number };
  /**
   * Over the participant's last `windowCalls` outcomes (a reply of any kind is a
   * success, a deadline passed a failure): opens when more than `failureRatio`
   * failed with at least `minimumCalls` seen. While open, new work that needs the
   * participant is refused at once (503 UPSTREAM_CIRCUIT_OPEN); after
   * `halfOpenAfterMs` one piece of work goes through, and its outcome closes or
   * reopens it. Work already under way is not affected: it has its deadlines.
   */
  readonly breaker: { readonly failureRatio: number; readonly windowCalls: number; readonly minimumCalls: number; readonly halfOpenAfterMs: number };
  /** Resends (compensations sent again) may add at most `ratio` of the commands sent in the last 10 s, plus `minPerSecond`; beyond, a resend waits a backoff. */
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number };
}

export const defaultCommandPolicy: CommandPolicy = {
  bulkhead: { maxInFlight: 5_000 },
  breaker: { failureRatio: 0.5, windowCalls: 20, minimumCalls: 5, halfOpenAfterMs: 10_000 },
  retryBudget: { ratio: 0.2, minPerSecond: 2 },
};

export type CommandPolicyOverride = { readonly [K in keyof CommandPolicy]?: Partial<CommandPolicy[K]> };

/** Declared exceptions, by sender then participant (`'*'` = every participant of the sender). None yet. */
export const commandPolicies: Partial<Record<ServiceName, Partial<Record<ServiceName | '*', CommandPolicyOverride>>>> = {};

/** The policy of `sender`'s commands to `participant`, with `overrides` (from configuration) on top. */
export function commandPolicy(sender: string, participant: string, overrides: Readonly<Record<string, CommandPolicyOverride>> = {}): CommandPolicy {
  const declared = commandPolicies[sender as ServiceName];
  return [declared?.['*'], declared?.[participant as ServiceName], overrides['*'], overrides[participant]].reduce<CommandPolicy>(merge, defaultCommandPolicy);
}
