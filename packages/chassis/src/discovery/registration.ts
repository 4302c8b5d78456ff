import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Readiness } from '../health.ts';
import type { DiscoveryLog } from './discovery.ts';
import type { InstanceRegistration, InstanceStatus, Registry } from './registry.ts';

export interface RegistrationOptions {
  registry: Registry;
  instance: InstanceRegistration;
  /** How often the lease is renewed (well within the registry's TTL). */
  heartbeatMs: number;
  /** The instance's readiness, asked before each heartbeat; `up` when not given. A callback that throws counts as `down`. */
  status?: () => InstanceStatus | Promise<InstanceStatus>;
  log?: DiscoveryLog;
}

/** While heartbeats keep failing, one warning this often (not one per tick). */
const WARN_EVERY_MS = 30_000;

/**
 * An instance's side of discovery: registers it, renews its lease every
 * `heartbeatMs` with its current readiness, and on shutdown says `draining` and
 * deregisters, so callers stop picking it before the listener closes. A registry
 * that cannot be reached never takes the service down: failures are logged and
 * the next tick tries again (a heartbeat re-registers an expired instance).
 */
export class Registration {
  readonly instance: InstanceRegistration;
  private readonly options: RegistrationOptions;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private failingSince: number | undefined;
  private lastWarning = 0;
  private ended = false;

  constructor(options: RegistrationOptions) {
    if (!(options.heartbeatMs > 0)) throw new Error(`heartbeatMs must be positive (got ${options.heartbeatMs})`);
    this.options = options;
    this.instance = options.instance;
  }

  /** Registers the instance and starts heartbeating. Never rejects: a failed registration is retried by the heartbeats. */
  async start(): Promise<void> {
    if (this.timer || this.ended) return;
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
    this.beating = this.attempt(async () => {
      await this.options.registry.register({ ...this.instance, status: await this.currentStatus() });
      this.options.log?.info({ instance: this.instance.id, url: this.instance.url, registry: this.options.registry.kind }, 'registered in the service registry');
    });
    await this.beating;
    this.beating = undefined;
  }

  /** One heartbeat now, unless one is under way. */
  private beat(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.beating ??= this.attempt(async () => this.options.registry.heartbeat(this.instance, await this.currentStatus())).finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  /** Reports `draining`, then deregisters: for the start of a graceful shutdown. Never rejects. */
  async drain(): Promise<void> {
    await this.end();
    try {
      await this.options.registry.heartbeat(this.instance, 'draining');
      await this.options.registry.deregister(this.instance.id);
      this.options.log?.info({ instance: this.instance.id }, 'deregistered from the service registry');
    } catch (error) {
      // It expires on its own once the heartbeats stop.
      this.options.log?.warn({ err: error, instance: this.instance.id }, 'could not deregister from the service registry; the entry will expire');
    }
  }

  /** Stops heartbeating without deregistering (the entry expires after the TTL). */
  async stop(): Promise<void> {
    await this.end();
  }

  private async end(): Promise<void> {
    this.ended = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
  }

  private async currentStatus(): Promise<InstanceStatus> {
    try {
      return (await this.options.status?.()) ?? 'up';
    } catch {
      return 'down';
    }
  }

  private async attempt(work: () => Promise<void>): Promise<void> {
    try {
      await work();
      if (this.failingSince !== undefined) {
        this.options.log?.info({ instance: this.instance.id, failedForMs: Date.now() - this.failingSince }, 'service registry reachable again');
        this.failingSince = undefined;
      }
    } catch (error) {
      const now = Date.now();
      this.failingSince ??= now;
      if (now - this.lastWarning >= WARN_EVERY_MS) {
        this.lastWarning = now;
        this.options.log?.warn(
          { err: error, instance: this.instance.id, failingForMs: now - this.failingSince },
          'service registry heartbeat failed; retrying every heartbeat',
        );
      }
    }
  }
}

/** A fresh instance id: `<service>-<host>-<pid>-<random>`. */
export function instanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** What a readiness verdict means for callers choosing an instance. */
export function instanceStatus(readiness: Readiness): InstanceStatus {
  return readiness.status === 'ready' ? 'up' : readiness.status === 'draining' ? 'draining' : 'down';
}

/** Parses `replica=2,zone=a` (INSTANCE_METADATA) into labels. */
export function parseInstanceMetadata(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    labels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return labels;
}

/** The base URL callers reach a listener on `host:port` with: `advertise` (ADVERTISE_URL) when set, else the listener's, a wildcard address as loopback. */
export function advertisedUrl(host: string, port: number, advertise?: string): string {
  if (advertise) return advertise.replace(/\/+$/, '');
  const reachable = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
