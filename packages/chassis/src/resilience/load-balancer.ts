/** An address a call can go to: one live instance of a dependency. */
export interface Endpoint {
  readonly id: string;
  readonly url: string;
}

export interface OutlierPolicy {
  readonly consecutiveFailures: number;
  readonly ejectMs: number;
  readonly maxEjectedPercent: number;
}

export interface EndpointState {
  readonly id: string;
  readonly url: string;
  /** Calls in flight to this instance from this process. */
  outstanding: number;
  consecutiveFailures: number;
  /** Ejected as an outlier until then (epoch ms); 0 when in rotation. */
  ejectedUntil: number;
  /** Ejections in a row (each one lasts twice as long as the last). */
  ejections: number;
  calls: number;
  failures: number;
}

/** Ejection never lasts longer than this, however often an instance fails. */
const MAX_EJECT_MS = 300_000;

/**
 * Client-side load balancing over the live instances of one dependency, with
 * outlier ejection (Envoy's model): an instance that fails several calls in a row
 * leaves the rotation for a while, so one sick replica does not fail a share of
 * every caller's requests until the registry notices it is gone.
 *
 * - `round-robin` takes the instances in turn;
 * - `least-outstanding` is "power of two choices": of two instances picked at
 *   random it takes the one with fewer calls in flight — close to least-loaded
 *   without scanning every instance or herding onto one.
 *
 * At most `maxEjectedPercent` of the instances are ejected at once, and when every
 * candidate is ejected the balancer picks among them anyway (panic mode): the
 * breaker, not the balancer, decides that a dependency is down.
 */
export class LoadBalancer {
  private readonly strategy: 'round-robin' | 'least-outstanding';
  private readonly outlier: OutlierPolicy;
  private readonly instances: () => readonly Endpoint[];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly states = new Map<string, EndpointState>();
  private cursor = 0;

  constructor(options: {
    strategy: 'round-robin' | 'least-outstanding';
    outlier: OutlierPolicy;
    instances: () => readonly Endpoint[];
    now?: () => number;
    random?: () => number;
  }) {
    this.strategy = options.strategy;
    this.outlier = options.outlier;
    this.instances = options.instances;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** The instance for the next attempt, avoiding those in `exclude` (tried already) when another is left; undefined when none is live. */
  pick(exclude?: ReadonlySet<string>): EndpointState | undefined {
    const live = this.instances();
    if (live.length === 0) return undefined;
    if (live.length === 1 && !exclude?.size) return this.stateOf(live[0]!);
    const now = this.now();
    let candidates = live.filter((e) => !exclude?.has(e.id) && !((this.states.get(e.id)?.ejectedUntil ?? 0) > now));
    if (candidates.length === 0) candidates = live.filter((e) => !exclude?.has(e.id));
    if (candidates.length === 0) candidates = [...live];
    if (candidates.length === 1) return this.stateOf(candidates[0]!);
    if (this.strategy === 'round-robin') return this.stateOf(candidates[this.cursor++ % candidates.length]!);
    const first = Math.floor(this.random() * candidates.length);
    const second = (first + 1 + Math.floor(this.random() * (candidates.length - 1))) % candidates.length;
    const a = this.stateOf(candidates[first]!);
    const b = this.stateOf(candidates[second]!);
    return b.outstanding < a.outstanding ? b : a;
  }

  /** A call to `state` starts. */
  begin(state: EndpointState): void {
    state.outstanding++;
    state.calls++;
  }

  /** A call to `state` ended; `failed` when the instance failed it (no connection, reset, timeout, 5xx). */
  end(state: EndpointState, failed: boolean): void {
    state.outstanding--;
    if (!failed) {
      state.consecutiveFailures = 0;
      if (state.ejections > 0 && state.ejectedUntil <= this.now()) state.ejections = 0;
      return;
    }
    state.failures++;
    state.consecutiveFailures++;
    if (state.consecutiveFailures >= this.outlier.consecutiveFailures) this.maybeEject(state);
  }

  /** Every known instance with its counters, ejected ones included (the admin view). */
  snapshot(): Array<Readonly<EndpointState> & { ejected: boolean }> {
    const now = this.now();
    return this.instances().map((endpoint) => {
      const state = this.stateOf(endpoint);
      return { ...state, ejected: state.ejectedUntil > now };
    });
  }

  private maybeEject(state: EndpointState): void {
    const now = this.now();
    if (state.ejectedUntil > now) return;
    const live = this.instances();
    const ejected = live.filter((e) => (this.states.get(e.id)?.ejectedUntil ?? 0) > now).length;
    if (ejected + 1 > Math.floor((live.length * this.outlier.maxEjectedPercent) / 100)) return;
    state.ejectedUntil = now + Math.min(MAX_EJECT_MS, this.outlier.ejectMs * 2 ** state.ejections);
    state.ejections++;
    state.consecutiveFailures = 0;
  }

  private stateOf(endpoint: Endpoint): EndpointState {
    let state = this.states.get(endpoint.id);
    if (!state) {
      if (this.states.size > 4 * this.instances().length + 16) this.forgetGone();
      state = { id: endpoint.id, url: endpoint.url, outstanding: 0, consecutiveFailures: 0, ejectedUntil: 0, ejections: 0, calls: 0, failures: 0 };
      this.states.set(endpoint.id, state);
    }
    return state;
  }

  /** Drops the counters of instances no longer registered. */
  private forgetGone(): void {
    const live = new Set(this.instances().map((e) => e.id));
    for (const id of this.states.keys()) if (!live.has(id)) this.states.delete(id);
  }
}
