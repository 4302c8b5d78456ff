import { callPolicy, type CallPolicyOverride } from '@bazaar/topology';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config.ts';
import type { Endpoint } from './load-balancer.ts';
import { UpstreamClient } from './upstream-client.ts';
import { UpstreamMetrics } from './upstream-metrics.ts';

/** Where the instances of a dependency come from (the process's discovery). */
export interface InstanceSource {
  instances(service: string): readonly Endpoint[];
}

/**
 * The clients of a service's dependencies, one per dependency, each with the
 * policies the topology declares for it (plus CALL_POLICY_OVERRIDES), balancing
 * over the instances discovery knows. Every outbound HTTP call of a service goes
 * through one of these.
 */
export class Upstreams {
  private readonly caller: string;
  private readonly source: InstanceSource;
  private readonly metrics: UpstreamMetrics;
  private readonly overrides: Record<string, CallPolicyOverride>;
  private readonly connections: number | undefined;
  private readonly clients = new Map<string, UpstreamClient>();

  constructor(options: { caller: string; source: InstanceSource; registry: Registry; overrides?: string | Record<string, CallPolicyOverride>; connections?: number }) {
    this.caller = options.caller;
    this.source = options.source;
    this.metrics = new UpstreamMetrics(options.registry);
    this.overrides = typeof options.overrides === 'string' ? parseOverrides(options.overrides) : (options.overrides ?? {});
    this.connections = options.connections;
  }

  /** The client of `service`, created on first use. */
  get(service: string): UpstreamClient {
    let client = this.clients.get(service);
    if (!client) {
      client = new UpstreamClient({
        caller: this.caller,
        service,
        policy: callPolicy(this.caller, service, this.overrides),
        instances: () => this.source.instances(service),
        metrics: this.metrics,
        ...(this.connections ? { connections: this.connections } : {}),
      });
      this.clients.set(service, client);
    }
    return client;
  }

  all(): UpstreamClient[] {
    return [...this.clients.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((client) => client.close()));
  }
}

const policyKeys = new Set(['timeoutMs', 'retry', 'retryBudget', 'breaker', 'bulkhead', 'balancer', 'outlier']);

/** CALL_POLICY_OVERRIDES, checked: JSON of `{ dependency: { policy field: value } }`. */
export function parseOverrides(text: string): Record<string, CallPolicyOverride> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text || '{}');
  } catch {
    throw new ConfigError(['CALL_POLICY_OVERRIDES: is not JSON']);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(['CALL_POLICY_OVERRIDES: must be an object by dependency']);
  for (const [dependency, override] of Object.entries(parsed)) {
    if (typeof override !== 'object' || override === null) throw new ConfigError([`CALL_POLICY_OVERRIDES: "${dependency}" must be an object`]);
    for (const key of Object.keys(override)) {
      if (!policyKeys.has(key)) throw new ConfigError([`CALL_POLICY_OVERRIDES: "${dependency}.${key}" is not a policy field (${[...policyKeys].join(', ')})`]);
    }
  }
  return parsed as Record<string, CallPolicyOverride>;
}
