import type { CallPolicy } from '@bazaar/topology';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ExponentialBackoff,
  IsolatedCircuitError,
  TaskCancelledError,
  bulkhead,
  fullJitterGenerator,
  handleWhen,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
  type IBackoff,
} from 'cockatiel';
import { Pool, type Dispatcher } from 'undici';
import { CALLER_HEADER } from '../faults.ts';
import { propagationHeaders } from '../http-client.ts';
import { AppError, withoutStackTrace } from '../problem.ts';
import { countBreaker, type BreakerTrial } from './breaker-trial.ts';
import { LoadBalancer, type Endpoint, type EndpointState } from './load-balancer.ts';
import { RetryBudget } from './retry-budget.ts';
import type { UpstreamMetrics } from './upstream-metrics.ts';

/** One attempt of a call, on one instance: what `execute` hands the caller's function. */
export interface Attempt {
  readonly endpoint: EndpointState;
  /** The keep-alive pool of that instance. */
  readonly pool: Pool;
  /**
   * The attempt's deadline, for undici's own per-request timers (`headersTimeout`,
   * and `bodyTimeout` where the whole body is awaited): cheaper than an
   * AbortController and a timer per attempt, and undici frees the connection.
   */
  readonly timeoutMs: number;
  /**
   * Aborted when the caller gives up, or when a deadline under a second runs out
   * (undici's timers are coarse, ~0.5 s, so a short deadline gets a precise timer).
   */
  readonly signal: AbortSignal | undefined;
  /** 0 for the first attempt. */
  readonly attempt: number;
}

export interface ExecuteOptions<T> {
  /**
   * Only idempotent calls are retried (GET, HEAD, PUT, DELETE, or a POST with an
   * idempotency key) — except after a refused connection, when nothing was sent.
   */
  idempotent: boolean;
  /** An answer that counts as a failure of the instance (retried, seen by the breaker); by default none. */
  isFailure?: (result: T) => boolean;
  /** The caller's own cancellation (the client went away): stops retrying, not counted against the dependency. */
  signal?: AbortSignal;
  /** Per-attempt deadline instead of the policy's. */
  timeoutMs?: number;
  /** The attempt keeps the deadline itself (a timer of its own on the request): no timer signal is made for it. */
  ownDeadline?: boolean;
}

export interface UpstreamRequest {
  method?: Dispatcher.HttpMethod;
  /** Path and query, e.g. `/api/catalog/products?ids=…`. */
  path: string;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is a Buffer or a string. */
  body?: unknown;
  /** Defaults to true for GET, HEAD, PUT, DELETE and OPTIONS. */
  idempotent?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** undici's request timers tick every ~0.5 s: below this, a deadline also gets a timer of its own. */
const PRECISE_DEADLINE_BELOW_MS = 1_000;

const idempotentMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** A failure caused by the caller giving up: never retried, never held against the dependency. */
class CallerGaveUp extends Error {}
/** An attempt that ran out of time (undici's headers or body timer fired). */
class AttemptTimedOut extends Error {}

/** A 5xx answer from an instance: a failure for the breaker and the retry policy, relayed as is when it is the last word. */
function serverError(response: { status: number }): boolean {
  return response.status >= 500;
}

/**
 * The client of one dependency, with its resilience policies (see
 * `@bazaar/topology`'s call-policies.ts for the order and the declarations):
 * bulkhead → retry within a budget → circuit breaker → an instance picked by
 * the load balancer, with the attempt's deadline on the request. cockatiel
 * provides the bulkhead, the breaker and the retry backoff, undici the
 * per-request deadline; what is ours is the retry loop within its budget, the
 * balancer and the mapping of failures to problem codes.
 *
 * Failures surface as `AppError`s with stable codes: UPSTREAM_CIRCUIT_OPEN and
 * UPSTREAM_SATURATED (503, with Retry-After, answered without a network call),
 * UPSTREAM_TIMEOUT (504) and UPSTREAM_UNAVAILABLE (502).
 */
export class UpstreamClient {
  readonly service: string;
  readonly caller: string;
  readonly policy: CallPolicy;
  readonly balancer: LoadBalancer;
  private readonly budget: RetryBudget;
  private readonly bulkhead: BulkheadPolicy;
  private readonly breaker: CircuitBreakerPolicy;
  /** Delays before retries: exponential, with full jitter. */
  private readonly backoff: ExponentialBackoff<unknown>;
  private readonly pools = new Map<string, Pool>();
  private readonly poolOptions: Pool.Options;
  private readonly metrics: UpstreamMetrics | undefined;
  private readonly instances: () => readonly Endpoint[];
  private readonly sweep: NodeJS.Timeout;
  private readonly trial: BreakerTrial;

  constructor(options: {
    caller: string;
    service: string;
    policy: CallPolicy;
    instances: () => readonly Endpoint[];
    metrics?: UpstreamMetrics;
    /** Keep-alive connections per instance. */
    connections?: number;
  }) {
    this.service = options.service;
    this.caller = options.caller;
    this.policy = options.policy;
    this.metrics = options.metrics;
    this.instances = options.instances;
    const policy = options.policy;
    this.balancer = new LoadBalancer({ strategy: policy.balancer, outlier: policy.outlier, instances: options.instances });
    this.budget = new RetryBudget(policy.retryBudget);
    // Each attempt sets its own deadline on the request; by default none (a stream may idle).
    this.poolOptions = { connections: options.connections ?? 32, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 };

    this.bulkhead = bulkhead(policy.bulkhead.maxConcurrent, policy.bulkhead.maxQueue);
    const breakerCounts = handleWhen((error) => !(error instanceof CallerGaveUp)).orWhenResult((result) => serverError(result as { status: number }));
    ({ breaker: this.breaker, trial: this.trial } = countBreaker(breakerCounts, policy.breaker));
    this.breaker.onStateChange((state) => this.metrics?.breakerState(this.service, breakerStateName(state)));
    this.backoff = new ExponentialBackoff({ initialDelay: policy.retry.baseDelayMs, maxDelay: policy.retry.maxDelayMs, generator: fullJitterGenerator });
    this.metrics?.track(this);
    // Pools of instances that left the registry are closed now and then.
    this.sweep = setInterval(() => this.closeGonePools(), 30_000);
    this.sweep.unref();
  }

  /**
   * Runs `attempt` under the dependency's policies; each attempt goes to an
   * instance the balancer picks (a retry prefers one not tried yet).
   *
   * The policies are called directly, not through cockatiel's `wrap()` and retry
   * policy: the call takes a bulkhead slot, then its attempts (at most the
   * policy's; a call that is not idempotent gets a second one only when its
   * connection was refused) each pass the breaker, with
   * the retry loop ours — it knows which attempt is the last, so no budget is
   * spent on a retry that will not happen, and the happy path costs no merged
   * contexts or extra promise layers per call.
   */
  async execute<T>(attempt: (attempt: Attempt) => Promise<T>, options: ExecuteOptions<T>): Promise<T> {
    this.budget.recordCall();
    const refused = this.refusedWhileOpen();
    if (refused) {
      this.metrics?.completed(this.service, 'circuit_open', 0);
      throw refused;
    }
    // Every call may need a second attempt: a refused connection is retried for any method (nothing was sent).
    const call = new Call(attempt, options, options.timeoutMs ?? this.policy.timeoutMs, this.policy.retry.maxAttempts);
    const started = performance.now();
    try {
      const result = await this.bulkhead.execute(() => this.attempts(call), options.signal);
      this.metrics?.completed(this.service, call.failed ? 'failure' : 'success', performance.now() - started);
      return result;
    } catch (error) {
      const failure = this.asAppError(error);
      this.metrics?.completed(this.service, outcomeOf(failure), performance.now() - started);
      throw failure;
    }
  }

  /** A buffered HTTP call (JSON APIs between services); 5xx answers count as failures and come back as the last answer when retries run out. */
  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const method = request.method ?? 'GET';
    // Built without spreads or computed keys: this runs on every call between services.
    const headers: Record<string, string> = { accept: 'application/json' };
    headers[CALLER_HEADER] = this.caller;
    if (request.headers) Object.assign(headers, request.headers);
    propagationHeaders(headers);
    let body: string | Buffer | null = null;
    if (request.body !== undefined) {
      body = Buffer.isBuffer(request.body) || typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
      headers['content-type'] ??= 'application/json';
    }
    const options: ExecuteOptions<UpstreamResponse> = { idempotent: request.idempotent ?? idempotentMethods.has(method), isFailure: serverError };
    if (request.signal) options.signal = request.signal;
    if (request.timeoutMs) options.timeoutMs = request.timeoutMs;
    return this.execute(async (attempt) => {
      const timeoutMs = attempt.timeoutMs;
      const response = await attempt.pool.request({ method, path: request.path, headers, body, signal: attempt.signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      return { status: response.statusCode, headers: response.headers, body: Buffer.from(await response.body.arrayBuffer()) };
    }, options);
  }

  /** A JSON call: the parsed body with the status; a body that is not JSON is an UPSTREAM_UNAVAILABLE failure. */
  async requestJson<T>(request: UpstreamRequest): Promise<{ status: number; body: T }> {
    const response = await this.request(request);
    if (response.status >= 500) throw new AppError('UPSTREAM_UNAVAILABLE', `${this.service} failed (${response.status})`, { headers: { 'retry-after': '1' } });
    const text = response.body.toString('utf8');
    try {
      return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
    } catch {
      throw new AppError('UPSTREAM_UNAVAILABLE', `${this.service} answered something that is not JSON`);
    }
  }

  breakerState(): BreakerState {
    return breakerStateName(this.breaker.state);
  }

  /** The state of the policies and instances, for metrics and the admin view. */
  stats() {
    return {
      service: this.service,
      breaker: this.breakerState(),
      bulkhead: { active: this.policy.bulkhead.maxConcurrent - this.bulkhead.executionSlots, queued: this.policy.bulkhead.maxQueue - this.bulkhead.queueSlots, maxConcurrent: this.policy.bulkhead.maxConcurrent, maxQueue: this.policy.bulkhead.maxQueue },
      retryBudgetRemaining: this.budget.remaining(),
      instances: this.balancer.snapshot(),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
  }

  /**
   * The attempts of one call, inside its bulkhead slot: each through the breaker;
   * a failure (an error, or an answer `isFailure` judges one) is retried while
   * attempts are left, it is transient and the retry budget allows one more. A
   * call that is not idempotent is retried only when its request never left: the
   * instance refused the connection (one that just stopped, before callers' views
   * of the registry caught up).
   */
  private async attempts<T>(call: Call<T>): Promise<T> {
    let backoff: IBackoff<unknown> | undefined;
    for (let n = 0; ; n++) {
      const last = n === call.maxAttempts - 1;
      try {
        const value = await this.breaker.execute(() => this.attempt(call, n));
        if (!call.failed || last || !call.options.idempotent || call.options.signal?.aborted || !this.takeRetry()) return value;
      } catch (error) {
        if (last || !transient(error) || (!call.options.idempotent && !neverSent(error)) || !this.takeRetry()) throw error;
      }
      backoff = backoff ? backoff.next(undefined) : this.backoff.next();
      if (backoff.duration > 0) {
        // The caller giving up ends the wait too (a gateway client that hung up).
        await sleep(backoff.duration, undefined, call.options.signal ? { signal: call.options.signal } : undefined).catch((error: unknown) => {
          throw new CallerGaveUp('the caller gave up', { cause: error });
        });
      }
    }
  }

  /** One attempt, on the instance the balancer picks; `call.failed` tells whether its answer counts as a failure. */
  private async attempt<T>(call: Call<T>, n: number): Promise<T> {
    if (n > 0) this.metrics?.retried(this.service);
    const endpoint = this.balancer.pick(call.tried);
    if (!endpoint) throw new AppError('UPSTREAM_UNAVAILABLE', `no live instance of ${this.service}`, { headers: { 'retry-after': '1' } });
    this.balancer.begin(endpoint);
    const options = call.options;
    let failed = true;
    try {
      const value = await call.run({ endpoint, pool: this.poolFor(endpoint.url), timeoutMs: call.timeoutMs, signal: options.ownDeadline ? options.signal : attemptSignal(options.signal, call.timeoutMs), attempt: n });
      failed = options.isFailure?.(value) ?? false;
      call.failed = failed;
      return value;
    } catch (error) {
      if (options.signal?.aborted) throw new CallerGaveUp('the caller gave up', { cause: error });
      throw isTimeout(error) ? new AttemptTimedOut(`${this.service} did not answer within ${call.timeoutMs} ms`, { cause: error }) : error;
    } finally {
      this.balancer.end(endpoint, failed);
      // A retry prefers an instance not tried yet.
      if (failed) (call.tried ??= new Set()).add(endpoint.id);
    }
  }

  /** Takes one retry from the budget; false (and counted) when it is spent. */
  private takeRetry(): boolean {
    if (this.budget.tryRetry()) return true;
    this.metrics?.budgetExhausted(this.service);
    return false;
  }

  /**
   * While the breaker is open and its trial call not yet due, the answer is known
   * without asking cockatiel, which would build a `BrokenCircuitError` (and we an
   * `AppError` around it): two stack traces per refused call, the largest cost of
   * answering a dead dependency's callers at once (bench:resilience profile). Once
   * the trial is due, the call goes through cockatiel, which lets one through.
   */
  private refusedWhileOpen(): AppError | undefined {
    if (!this.trial.refusing()) return undefined;
    return withoutStackTrace(() => this.circuitOpen());
  }

  /** The answer while the breaker refuses: 503, and Retry-After for when the trial call is due. */
  private circuitOpen(cause?: unknown): AppError {
    return new AppError('UPSTREAM_CIRCUIT_OPEN', `${this.service} is failing; calls to it are paused`, { headers: { 'retry-after': this.trial.retryAfter() }, ...(cause ? { cause } : {}) });
  }

  private asAppError(error: unknown): AppError {
    if (error instanceof AppError) return error;
    if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) return this.circuitOpen(error);
    if (error instanceof BulkheadRejectedError) {
      return new AppError('UPSTREAM_SATURATED', `${this.service} has too many calls in flight`, { headers: { 'retry-after': '1' }, cause: error });
    }
    if (error instanceof CallerGaveUp) return new AppError('UPSTREAM_UNAVAILABLE', 'the call was abandoned by its caller', { cause: error });
    if (error instanceof AttemptTimedOut || error instanceof TaskCancelledError || isTimeout(error)) {
      return new AppError('UPSTREAM_TIMEOUT', `${this.service} did not answer in time`, { cause: error });
    }
    return new AppError('UPSTREAM_UNAVAILABLE', `${this.service} could not be reached`, { headers: { 'retry-after': '1' }, cause: error });
  }

  private poolFor(url: string): Pool {
    let pool = this.pools.get(url);
    if (!pool) {
      pool = new Pool(url, this.poolOptions);
      this.pools.set(url, pool);
    }
    return pool;
  }

  private closeGonePools(): void {
    const live = new Set(this.instances().map((e) => e.url));
    for (const [url, pool] of this.pools) {
      if (live.has(url)) continue;
      this.pools.delete(url);
      void pool.close().catch(() => {});
    }
  }
}

/** One call in progress: what its attempts share. */
class Call<T> {
  readonly run: (attempt: Attempt) => Promise<T>;
  readonly options: ExecuteOptions<T>;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** Whether the last answer counts as a failure (judged once, by its attempt). */
  failed = false;
  /** Instances that failed an attempt of this call. */
  tried: Set<string> | undefined;

  constructor(run: (attempt: Attempt) => Promise<T>, options: ExecuteOptions<T>, timeoutMs: number, maxAttempts: number) {
    this.run = run;
    this.options = options;
    this.timeoutMs = timeoutMs;
    this.maxAttempts = maxAttempts;
  }
}

/** Whether a failed attempt may be worth another: not when the caller gave up, the breaker or bulkhead refused, or the failure is already an answer of ours. */
function transient(failure: unknown): boolean {
  return !(failure instanceof CallerGaveUp || failure instanceof BrokenCircuitError || failure instanceof IsolatedCircuitError || failure instanceof BulkheadRejectedError || failure instanceof AppError);
}

/** Whether an attempt failed before its request left: the connection was refused, so any call may go elsewhere. */
function neverSent(failure: unknown): boolean {
  return (failure as { code?: string } | null)?.code === 'ECONNREFUSED';
}

/** The signal an attempt runs under: the caller's, plus a precise timer for a deadline undici's coarse timers would overshoot. */
function attemptSignal(caller: AbortSignal | undefined, timeoutMs: number): AbortSignal | undefined {
  if (timeoutMs >= PRECISE_DEADLINE_BELOW_MS) return caller;
  const deadline = AbortSignal.timeout(timeoutMs);
  return caller ? AbortSignal.any([caller, deadline]) : deadline;
}

function isTimeout(error: unknown): boolean {
  if ((error as { name?: string } | null)?.name === 'TimeoutError') return true;
  const code = (error as { code?: string } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

export function breakerStateName(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
    default:
      return 'closed';
  }
}

function outcomeOf(error: AppError): string {
  switch (error.code) {
    case 'UPSTREAM_CIRCUIT_OPEN':
      return 'circuit_open';
    case 'UPSTREAM_SATURATED':
      return 'bulkhead_full';
    case 'UPSTREAM_TIMEOUT':
      return 'timeout';
    default:
      return 'failure';
  }
}
