import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState, UpstreamClient } from './upstream-client.ts';

const breakerValues: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };

/**
 * The resilience policies' state as Prometheus metrics, one set per process,
 * labelled by upstream (the dependency's service name): calls by outcome and
 * duration, retries, budget refusals, breaker state, bulkhead occupancy and
 * instances in and out of rotation.
 */
export class UpstreamMetrics {
  private readonly calls: Histogram<'upstream' | 'outcome'>;
  private readonly retries: Counter<'upstream'>;
  private readonly budgetRefusals: Counter<'upstream'>;
  private readonly breaker: Gauge<'upstream'>;
  private readonly clients: UpstreamClient[] = [];
  private readonly children = new Map<string, Map<string, ReturnType<Histogram<'upstream' | 'outcome'>['labels']>>>();

  constructor(registry: Registry) {
    this.calls = new Histogram({
      name: 'upstream_call_duration_seconds',
      help: 'Calls to a dependency by outcome (success, failure, timeout, circuit_open, bulkhead_full), retries included',
      labelNames: ['upstream', 'outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
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
    // Children looked up by upstream then outcome: no label hashing or key string per call.
    let byOutcome = this.children.get(upstream);
    if (!byOutcome) this.children.set(upstream, (byOutcome = new Map()));
    let child = byOutcome.get(outcome);
    if (!child) byOutcome.set(outcome, (child = this.calls.labels({ upstream, outcome })));
    child.observe(ms / 1000);
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
