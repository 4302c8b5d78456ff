import { callPolicy, defaultCallPolicy, type CallPolicyOverride } from '@bazaar/topology';
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

/**
 * CALL_POLICY_OVERRIDES (or, with `defaultCommandPolicy` as the shape,
 * COMMAND_POLICY_OVERRIDES), checked against the shape of the declared policies:
 * JSON of `{ dependency: { field: value } }`, every field and sub-field one the
 * policy has, with a value of the same type. A typo is a configuration error,
 * not a silently ignored setting.
 */
export function parseOverrides<O = CallPolicyOverride>(text: string, variable = 'CALL_POLICY_OVERRIDES', shape: object = defaultCallPolicy): Record<string, O> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text || '{}');
  } catch {
    throw new ConfigError([`${variable}: is not JSON`]);
  }
  if (!isObject(parsed)) throw new ConfigError([`${variable}: must be an object by dependency`]);
  const problems: string[] = [];
  for (const [dependency, override] of Object.entries(parsed)) {
    if (!isObject(override)) {
      problems.push(`${variable}: "${dependency}" must be an object`);
      continue;
    }
    checkShape(override, shape as Record<string, unknown>, dependency, variable, problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed as Record<string, O>;
}

function checkShape(value: Record<string, unknown>, shape: Record<string, unknown>, path: string, variable: string, problems: string[]): void {
  for (const [key, given] of Object.entries(value)) {
    const where = `${path}.${key}`;
    if (!(key in shape)) {
      problems.push(`${variable}: "${where}" is not a policy field (${Object.keys(shape).join(', ')})`);
      continue;
    }
    const expected = shape[key];
    if (isObject(expected)) {
      if (isObject(given)) checkShape(given, expected, where, variable, problems);
      else problems.push(`${variable}: "${where}" must be an object`);
    } else if (key === 'balancer') {
      if (given !== 'round-robin' && given !== 'least-outstanding') problems.push(`${variable}: "${where}" must be "round-robin" or "least-outstanding"`);
    } else if (typeof given !== 'number' || !Number.isFinite(given) || given < 0) {
      problems.push(`${variable}: "${where}" must be a number ≥ 0`);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
