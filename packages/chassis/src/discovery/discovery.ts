import { serviceNames, serviceUrlVariable } from '@bazaar/topology';
import type { BaseConfig } from '../config.ts';
import type { Registry, ServiceInstance } from './registry.ts';

/** The part of a (pino) logger discovery uses. */
export interface DiscoveryLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface DiscoveryOptions {
  /** Where instances register; without one (DISCOVERY=static) only `staticUrls` are served. */
  registry?: Registry | undefined;
  /** A URL per service (the `<SERVICE>_URL` variables), used when the registry has no instance of it that is up. */
  staticUrls?: Readonly<Record<string, string>>;
  /** How often the cache is refreshed from the registry. Default 1000 ms. */
  refreshMs?: number;
  log?: DiscoveryLog | undefined;
}

/** Called after a refresh with the services whose instances (ids, urls or statuses) changed. */
export type DiscoveryListener = (services: readonly string[]) => void;

const NONE: readonly ServiceInstance[] = Object.freeze([]);
/** While refreshes keep failing, one warning this often. */
const WARN_EVERY_MS = 30_000;

/**
 * A caller's view of where services run: a cache of the registry, refreshed
 * every `refreshMs` (and at once the first time a service it does not know is
 * asked for), so choosing an instance on a request's path is synchronous and
 * costs no round trip. When the registry cannot be read, the last copy stays in
 * use. A service with no instance that is up falls back to its static URL.
 */
export class Discovery {
  /** `registry` when backed by one; `static` when it only knows the configured URLs. */
  readonly mode: 'registry' | 'static';
  private readonly registry: Registry | undefined;
  private readonly refreshMs: number;
  private readonly log: DiscoveryLog | undefined;
  private readonly statics = new Map<string, readonly ServiceInstance[]>();
  /** Every live instance by service, any status, as of the last refresh. */
  private live = new Map<string, readonly ServiceInstance[]>();
  /** What `instances()` answers, by service: the ones that are up, or the static fallback. */
  private usable = new Map<string, readonly ServiceInstance[]>();
  private readonly asked = new Set<string>();
  private readonly listeners = new Set<DiscoveryListener>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failingSince: number | undefined;
  private lastWarning = 0;
  private stopped = false;

  constructor(options: DiscoveryOptions) {
    this.registry = options.registry;
    this.mode = options.registry ? 'registry' : 'static';
    this.refreshMs = options.refreshMs ?? 1_000;
    if (!(this.refreshMs > 0)) throw new Error(`refreshMs must be positive (got ${this.refreshMs})`);
    this.log = options.log;
    const since = new Date().toISOString();
    for (const [service, url] of Object.entries(options.staticUrls ?? {})) {
      this.statics.set(service, Object.freeze([staticInstance(service, url, since)]));
    }
    this.usable = new Map(this.statics);
  }

  /** Reads the registry once, then keeps refreshing. Never rejects: with the registry unreachable, static URLs serve. */
  async start(): Promise<void> {
    if (!this.registry || this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
    await this.refresh();
  }

  /** Stops refreshing (the registry is the caller's to close). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }

  /**
   * The instances of `service` to send requests to: those that are up, in a
   * stable order; else its static URL as one instance (id `static:<service>`);
   * else none. The array is frozen and stays the same object until a refresh
   * changes it, so callers may key per-instance state on it.
   */
  instances(service: string): readonly ServiceInstance[] {
    if (this.registry && !this.asked.has(service)) {
      this.asked.add(service);
      if (!this.live.has(service)) void this.refresh();
    }
    return this.usable.get(service) ?? NONE;
  }

  /** Every live instance of every service, whatever its status (for the admin view). */
  all(): ServiceInstance[] {
    return [...this.live.values()].flat();
  }

  /** Calls `listener` after each refresh that changed some service's instances; returns the unsubscribe. */
  onChange(listener: DiscoveryListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Reads the registry now (a refresh under way is joined, not doubled). */
  refresh(): Promise<void> {
    if (!this.registry || this.stopped) return Promise.resolve();
    this.refreshing ??= this.readRegistry(this.registry).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readRegistry(registry: Registry): Promise<void> {
    let listed: ServiceInstance[];
    try {
      listed = await registry.list();
    } catch (error) {
      const now = Date.now();
      this.failingSince ??= now;
      if (now - this.lastWarning >= WARN_EVERY_MS) {
        this.lastWarning = now;
        this.log?.warn({ err: error, failingForMs: now - this.failingSince }, 'cannot read the service registry; using the last known instances');
      }
      return;
    }
    if (this.failingSince !== undefined) {
      this.log?.info({ failedForMs: Date.now() - this.failingSince }, 'service registry readable again');
      this.failingSince = undefined;
    }
    if (this.stopped) return;
    this.update(listed);
  }

  private update(listed: readonly ServiceInstance[]): void {
    const grouped = new Map<string, ServiceInstance[]>();
    for (const instance of listed) {
      const same = grouped.get(instance.service);
      if (same) same.push(instance);
      else grouped.set(instance.service, [instance]);
    }
    const live = new Map<string, readonly ServiceInstance[]>();
    for (const [service, instances] of grouped) live.set(service, Object.freeze(instances.map((i) => Object.freeze(i))));

    const usable = new Map(this.statics);
    for (const [service, instances] of live) {
      const up = instances.filter((i) => i.status === 'up');
      if (up.length > 0) usable.set(service, Object.freeze(up));
    }
    // Keep the previous array of a service whose instances did not change.
    const changed: string[] = [];
    for (const service of new Set([...this.usable.keys(), ...usable.keys(), ...this.live.keys(), ...live.keys()])) {
      const before = this.usable.get(service);
      const after = usable.get(service);
      const sameUsable = signature(before) === signature(after);
      if (sameUsable && before) usable.set(service, before);
      if (!sameUsable || signature(this.live.get(service)) !== signature(live.get(service))) changed.push(service);
    }
    this.live = live;
    this.usable = usable;
    if (changed.length === 0) return;
    changed.sort();
    for (const listener of this.listeners) {
      try {
        listener(changed);
      } catch (error) {
        this.log?.warn({ err: error }, 'a discovery listener failed');
      }
    }
  }
}

/** What identifies a set of instances for change detection: ids, urls and statuses. */
function signature(instances: readonly ServiceInstance[] | undefined): string {
  return (instances ?? []).map((i) => `${i.id} ${i.url} ${i.status}`).join('\n');
}

function staticInstance(service: string, url: string, since: string): ServiceInstance {
  const parsed = new URL(url);
  return Object.freeze({
    id: `static:${service}`,
    service,
    url: url.replace(/\/+$/, ''),
    version: 'unknown',
    pid: 0,
    host: parsed.hostname,
    metadata: Object.freeze({ source: 'static' }),
    status: 'up',
    registeredAt: since,
    heartbeatAt: since,
  });
}

/**
 * The `<SERVICE>_URL` of every service of the topology that has one: from
 * `config` (a service's loaded configuration) or else the environment.
 */
export function staticServiceUrls(config: object = {}, env: Record<string, string | undefined> = process.env): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const service of serviceNames) {
    const variable = serviceUrlVariable(service);
    const value = (config as Record<string, unknown>)[variable] ?? env[variable];
    if (typeof value === 'string' && value !== '') urls[service] = value;
  }
  return urls;
}

/** The registry a service registers in and reads, or undefined with DISCOVERY=static or no URL (REGISTRY_URL, else BROKER_URL). */
export function registryUrl(config: BaseConfig): string | undefined {
  return config.DISCOVERY === 'registry' ? (config.REGISTRY_URL ?? config.BROKER_URL) : undefined;
}

/**
 * The process's Discovery from its configuration: static URLs from the
 * `<SERVICE>_URL` variables, refreshed from `registry` when one is given, at
 * the heartbeat rate (at most every second).
 */
export function createDiscovery(config: BaseConfig, options: { registry?: Registry | undefined; log?: DiscoveryLog | undefined } = {}): Discovery {
  return new Discovery({
    registry: options.registry,
    staticUrls: staticServiceUrls(config),
    refreshMs: Math.min(config.HEARTBEAT_MS, 1_000),
    log: options.log,
  });
}
