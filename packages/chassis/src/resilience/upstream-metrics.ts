import { Counter, Gauge, type Metric, type MetricValueWithName, type Registry } from 'prom-client';
import type { BreakerState, UpstreamClient } from './upstream-client.ts';

/** A breaker's state as a gauge value. */
export const breakerValues: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };

const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The observations of one label set: a count per bucket (the last one +Inf), their sum and number. */
class Series {
  readonly labels: { upstream: string; outcome: string };
  readonly buckets = new Float64Array(CALL_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(upstream: string, outcome: string) {
    this.labels = { upstream, outcome };
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < CALL_BUCKETS.length && seconds > CALL_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * `upstream_call_duration_seconds`, observed on every call to a dependency (each
 * request the gateway proxies, too): counted in a typed array per label set and
 * handed to the registry in prom-client's histogram format when scraped.
 * prom-client's own `observe` validates the labels, builds a hash string and
 * turns the bucket bound into a property name on every call.
 */
class CallDurations {
  readonly name = 'upstream_call_duration_seconds';
  readonly help = 'Calls to a dependency by outcome (success, failure, timeout, circuit_open, bulkhead_full), retries included';
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, Map<string, Series>>();

  constructor(registry: Registry) {
    // The registry needs of a metric only its name, get() and reset(); prom-client's types name its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  record(upstream: string, outcome: string, seconds: number): void {
    let byOutcome = this.series.get(upstream);
    if (!byOutcome) this.series.set(upstream, (byOutcome = new Map()));
    let series = byOutcome.get(outcome);
    if (!series) byOutcome.set(outcome, (series = new Series(upstream, outcome)));
    series.observe(seconds);
  }

  /** The histogram as prom-client's own hand it to the registry (and `getMetricsAsJSON`). */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<MetricValueWithName<string>> }> {
    const values: Array<MetricValueWithName<string>> = [];
    for (const byOutcome of this.series.values()) {
      for (const series of byOutcome.values()) {
        let cumulative = 0;
        for (let i = 0; i <= CALL_BUCKETS.length; i++) {
          cumulative += series.buckets[i]!;
          values.push({ labels: { ...series.labels, le: i < CALL_BUCKETS.length ? CALL_BUCKETS[i]! : '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
        }
        values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
        values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

/**
 * The resilience policies' state as Prometheus metrics, one set per process,
 * labelled by upstream (the dependency's service name): calls by outcome and
 * duration, retries, budget refusals, breaker state, bulkhead occupancy and
 * instances in and out of rotation.
 */
export class UpstreamMetrics {
  private readonly calls: CallDurations;
  private readonly retries: Counter<'upstream'>;
  private readonly budgetRefusals: Counter<'upstream'>;
  private readonly breaker: Gauge<'upstream'>;
  private readonly clients: UpstreamClient[] = [];

  constructor(registry: Registry) {
    this.calls = new CallDurations(registry);
    this.retries = new Counter({ name: 'upstream_retries_total', help: 'Attempts beyond the first, per dependency', labelNames: ['upstream'] as const, registers: [registry] });
    this.budgetRefusals = new Counter({
      name: 'upstream_retry_budget_exhausted_total',
      help: 'Retries not made because the retry budget was spent',
      labelNames: ['upstream'] as const,
      registers: [registry],
    });
    this.breaker = new Gauge({ name: 'upstream_circuit_state', help: 'Circuit breaker per dependency: 0 closed, 1 half-open, 2 open, 3 isolated', labelNames: ['upstream'] as const, registers: [registry] });
    const clients = this.clients;
    new Gauge({
      name: 'upstream_bulkhead_calls',
      help: 'Calls in flight (state=active) and waiting (state=queued) in the bulkhead of each dependency',
      labelNames: ['upstream', 'state'] as const,
      registers: [registry],
      collect() {
        for (const client of clients) {
          const { bulkhead } = client.stats();
          this.set({ upstream: client.service, state: 'active' }, bulkhead.active);
          this.set({ upstream: client.service, state: 'queued' }, bulkhead.queued);
        }
      },
    });
    new Gauge({
      name: 'upstream_instances',
      help: 'Instances of each dependency in rotation and ejected as outliers',
      labelNames: ['upstream', 'state'] as const,
      registers: [registry],
      collect() {
        for (const client of clients) {
          const instances = client.balancer.snapshot();
          const ejected = instances.filter((i) => i.ejected).length;
          this.set({ upstream: client.service, state: 'in_rotation' }, instances.length - ejected);
          this.set({ upstream: client.service, state: 'ejected' }, ejected);
        }
      },
    });
  }

  track(client: UpstreamClient): void {
    this.clients.push(client);
    this.breaker.set({ upstream: client.service }, 0);
  }

  completed(upstream: string, outcome: string, ms: number): void {
    this.calls.record(upstream, outcome, ms / 1000);
  }

  retried(upstream: string): void {
    this.retries.inc({ upstream });
  }

  budgetExhausted(upstream: string): void {
    this.budgetRefusals.inc({ upstream });
  }

  breakerState(upstream: string, state: BreakerState): void {
    this.breaker.set({ upstream }, breakerValues[state]);
  }
}
