/**
 * Load shapes for bench:resilience: closed loops (one call at a time, or N in
 * flight) for the cost per call, and an open loop at a fixed rate for latency
 * under failures (each call starts at its instant whether or not earlier ones
 * finished, so a slow answer cannot slow the load down and hide itself).
 */

/** A call that resolves with the name of its outcome: `200`, `503`, `504 UPSTREAM_TIMEOUT`, `error ECONNRESET`… */
export type Call = () => Promise<string>;

export interface CostSample {
  /** Wall-clock time per call, µs. */
  wallUs: number;
  /** CPU time of this process per call (user + system), µs. */
  cpuUs: number;
}

/** `calls` calls, `width` at a time (1 = serial), back to back. */
export async function closedLoop(call: () => Promise<unknown>, calls: number, width: number): Promise<CostSample> {
  let left = calls;
  const worker = async () => {
    while (left-- > 0) await call();
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  if (width === 1) await worker();
  else await Promise.all(Array.from({ length: width }, worker));
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallUs: (wallMs * 1000) / calls, cpuUs: (used.user + used.system) / calls };
}

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  /** Calls due over the phase. */
  scheduled: number;
  /** Due calls not sent because `maxInFlight` were outstanding (counted as failures). */
  notSent: number;
  /** Latency of every completed call, ms, from the moment it was sent to the end of its answer. */
  latencies: number[];
  outcomes: Record<string, number>;
  /** Latencies by outcome, ms. */
  latenciesByOutcome: Record<string, number[]>;
  /** Outcomes by second of the phase (by when the call was due). */
  bySecond: Array<Record<string, number>>;
  /** Latencies of the calls due in each second, ms. */
  latenciesBySecond: number[][];
  /** How late the generator sent calls behind their schedule, ms (its own stalls, not the target's). */
  lagP99Ms: number;
}

/**
 * `rate` calls a second for `seconds`, open loop; resolves when every call sent
 * has settled. Timer ticks are ~1 ms: calls due within a tick go out together.
 */
export async function openLoop(call: Call, options: { rate: number; seconds: number; maxInFlight: number }): Promise<OpenLoopResult> {
  const { rate, seconds, maxInFlight } = options;
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const result: OpenLoopResult = { rate, seconds, scheduled: total, notSent: 0, latencies: [], outcomes: {}, latenciesByOutcome: {}, bySecond: Array.from({ length: Math.ceil(seconds) }, () => ({})), latenciesBySecond: Array.from({ length: Math.ceil(seconds) }, () => []), lagP99Ms: 0 };
  const lags: number[] = [];
  const pending = new Set<Promise<void>>();
  let inFlight = 0;
  const count = (outcome: string, second: number, ms?: number) => {
    result.outcomes[outcome] = (result.outcomes[outcome] ?? 0) + 1;
    const index = Math.min(second, result.bySecond.length - 1);
    const slot = result.bySecond[index]!;
    slot[outcome] = (slot[outcome] ?? 0) + 1;
    if (ms === undefined) return;
    result.latencies.push(ms);
    result.latenciesBySecond[index]!.push(ms);
    (result.latenciesByOutcome[outcome] ??= []).push(ms);
  };
  const fire = (second: number) => {
    inFlight++;
    const sent = performance.now();
    const settled = call()
      .catch((error: unknown) => `error ${(error as { code?: string }).code ?? (error as Error).message}`)
      .then((outcome) => count(outcome, second, performance.now() - sent))
      .finally(() => {
        inFlight--;
        pending.delete(settled);
      });
    pending.add(settled);
  };
  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        const due = start + next * interval;
        lags.push(now - due);
        const second = Math.floor((due - start) / 1000);
        next++;
        if (inFlight >= maxInFlight) {
          result.notSent++;
          count('not sent (generator at its in-flight cap)', second);
        } else {
          fire(second);
        }
      }
      if (next >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  while (pending.size) await Promise.all(pending);
  result.lagP99Ms = percentile(lags, 0.99);
  return result;
}

/** Nearest-rank percentile (q in 0..1); NaN for no values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (values: readonly number[]) => percentile(values, 0.5);
