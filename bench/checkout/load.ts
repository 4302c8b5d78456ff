/**
 * Load shapes for bench:checkout, the same for the monolith and the saga: a checkout
 * is a function that resolves when the order is final; the driver times it.
 *
 *   closedLoop  `concurrency` clients, each starting its next checkout when the last ended
 *   openLoop    arrivals on a fixed schedule, whether or not earlier checkouts ended
 */
import { setTimeout as sleep } from 'node:timers/promises';

export type Outcome = 'confirmed' | 'cancelled' | 'rejected' | 'failed' | 'timeout' | 'skipped';

/** What one checkout answers: how it ended and, when known, the instant the client saw it end. */
export interface Result {
  outcome: Outcome;
  /** performance.now() when the final status was seen (defaults to when the promise resolved). */
  at?: number;
  detail?: string;
  /** The order's id, when the variant has one to show (the saga's). */
  orderId?: string;
}

export type Checkout = (signal: AbortSignal) => Promise<Result>;

export interface Attempt {
  sentAt: number;
  doneAt: number;
  outcome: Outcome;
  detail?: string;
  orderId?: string;
  /** Sent inside the measured window (not during the phase's warm-up). */
  measured: boolean;
}

export interface PhaseResult {
  attempts: Attempt[];
  /** Start and end (performance.now()) of the measured window. */
  windowStart: number;
  windowEnd: number;
}

async function timed(checkout: Checkout, timeoutMs: number, measured: boolean): Promise<Attempt> {
  const sentAt = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const result = await checkout(signal);
    return {
      sentAt,
      doneAt: result.at ?? performance.now(),
      outcome: result.outcome,
      ...(result.detail ? { detail: result.detail } : {}),
      ...(result.orderId ? { orderId: result.orderId } : {}),
      measured,
    };
  } catch (error) {
    const outcome = signal.aborted ? 'timeout' : 'failed';
    return { sentAt, doneAt: performance.now(), outcome, detail: (error as Error).message, measured };
  }
}

/** `concurrency` clients back to back for `seconds` (after `warmUpSeconds` not measured); waits for the last ones. */
export async function closedLoop(checkout: Checkout, options: { concurrency: number; seconds: number; warmUpSeconds: number; timeoutMs: number }): Promise<PhaseResult> {
  const begin = performance.now();
  const windowStart = begin + options.warmUpSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;
  const attempts: Attempt[] = [];
  const client = async () => {
    while (performance.now() < windowEnd) {
      attempts.push(await timed(checkout, options.timeoutMs, performance.now() >= windowStart));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return { attempts, windowStart, windowEnd };
}

/**
 * Arrivals every 1/rate s for `warmUpSeconds + seconds` (open loop: a late checkout does not
 * delay the next). Beyond `maxInFlight` outstanding checkouts an arrival is not sent and
 * counts as `skipped`. Waits until every sent checkout has ended.
 */
export async function openLoop(checkout: Checkout, options: { rate: number; seconds: number; warmUpSeconds: number; timeoutMs: number; maxInFlight: number }): Promise<PhaseResult> {
  const interval = 1000 / options.rate;
  const begin = performance.now();
  const windowStart = begin + options.warmUpSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;
  const attempts: Attempt[] = [];
  const pending = new Set<Promise<void>>();
  for (let i = 0; ; i++) {
    const due = begin + i * interval;
    if (due >= windowEnd) break;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const measured = due >= windowStart;
    if (pending.size >= options.maxInFlight) {
      attempts.push({ sentAt: due, doneAt: due, outcome: 'skipped', detail: `${options.maxInFlight} checkouts outstanding`, measured });
      continue;
    }
    const run: Promise<void> = timed(checkout, options.timeoutMs, measured).then((attempt) => {
      attempt.sentAt = due; // from the scheduled instant: a late timer counts against the latency, not for it
      attempts.push(attempt);
      pending.delete(run);
    });
    pending.add(run);
  }
  await Promise.all(pending);
  return { attempts, windowStart, windowEnd };
}

/** The q-quantile (nearest rank) of `values`, sorted ascending; Infinity stands for a checkout that never confirmed. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface PhaseSummary {
  sent: number;
  confirmed: number;
  /** Confirmations seen inside the measured window, per second. */
  confirmedPerSecond: number;
  /** Arrivals inside the measured window, per second. */
  sentPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: Record<Exclude<Outcome, 'confirmed'>, number>;
  errorCount: number;
  /** A few distinct error details, for the log. */
  examples: string[];
}

/**
 * Latency percentiles over every checkout sent in the measured window; one that did not
 * end CONFIRMED counts as infinitely slow, so errors can never make the percentiles look better.
 */
export function summarize(phase: PhaseResult): PhaseSummary {
  const measured = phase.attempts.filter((a) => a.measured);
  const seconds = (phase.windowEnd - phase.windowStart) / 1000;
  const latencies = measured.map((a) => (a.outcome === 'confirmed' ? a.doneAt - a.sentAt : Infinity)).sort((a, b) => a - b);
  const errors = { cancelled: 0, rejected: 0, failed: 0, timeout: 0, skipped: 0 };
  const examples = new Set<string>();
  for (const a of measured) {
    if (a.outcome === 'confirmed') continue;
    errors[a.outcome]++;
    if (examples.size < 5) examples.add(`${a.outcome}: ${a.detail ?? ''}`);
  }
  const confirmedInWindow = phase.attempts.filter((a) => a.outcome === 'confirmed' && a.doneAt >= phase.windowStart && a.doneAt < phase.windowEnd).length;
  return {
    sent: measured.length,
    confirmed: measured.filter((a) => a.outcome === 'confirmed').length,
    confirmedPerSecond: confirmedInWindow / seconds,
    sentPerSecond: measured.length / seconds,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
    errors,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    examples: [...examples],
  };
}
