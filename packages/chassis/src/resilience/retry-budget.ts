/**
 * A retry budget (as in Finagle and gRPC): over a sliding window, retries may add
 * at most `ratio` of the calls made plus a small floor per second. In normal
 * operation failures are rare and every retry fits; in an outage, when every call
 * fails, retries stop at `ratio` extra load instead of multiplying it by the
 * number of attempts.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly slotMs: number;
  private readonly now: () => number;
  /** Calls and retries per slot of a ring covering the window. */
  private readonly calls: Float64Array;
  private readonly retries: Float64Array;
  private slot = 0;
  private slotStart = 0;

  constructor(options: { ratio: number; minPerSecond: number; windowMs?: number; slots?: number; now?: () => number }) {
    const windowMs = options.windowMs ?? 10_000;
    const slots = options.slots ?? 10;
    this.ratio = options.ratio;
    this.floor = (options.minPerSecond * windowMs) / 1_000;
    this.slotMs = windowMs / slots;
    this.now = options.now ?? Date.now;
    this.calls = new Float64Array(slots);
    this.retries = new Float64Array(slots);
    this.slotStart = this.now();
  }

  /** Counts a first attempt. */
  recordCall(): void {
    this.advance();
    this.calls[this.slot]!++;
  }

  /** Takes one retry from the budget; false when it is spent (the caller gives up instead). */
  tryRetry(): boolean {
    this.advance();
    if (sum(this.retries) + 1 > this.floor + this.ratio * sum(this.calls)) return false;
    this.retries[this.slot]!++;
    return true;
  }

  /** What is left right now, for metrics and the admin view. */
  remaining(): number {
    this.advance();
    return Math.max(0, Math.floor(this.floor + this.ratio * sum(this.calls) - sum(this.retries)));
  }

  private advance(): void {
    const now = this.now();
    let elapsed = Math.floor((now - this.slotStart) / this.slotMs);
    if (elapsed <= 0) return;
    this.slotStart += elapsed * this.slotMs;
    elapsed = Math.min(elapsed, this.calls.length);
    for (let i = 0; i < elapsed; i++) {
      this.slot = (this.slot + 1) % this.calls.length;
      this.calls[this.slot] = 0;
      this.retries[this.slot] = 0;
    }
  }
}

function sum(values: Float64Array): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
