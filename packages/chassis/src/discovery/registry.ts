/**
 * Service discovery: the port. Every service process registers itself as an
 * instance (address, version, metadata), heartbeats while it runs, deregisters
 * when it shuts down, and expires when its heartbeats stop (it was killed).
 * Callers read the live instances of a service and balance load over them
 * client-side (see `../resilience/`).
 *
 * Two stores implement the port and pass one conformance suite:
 * - `PostgresRegistry` — a table in the embedded broker's database (the
 *   embedded mode's local store);
 * - `NatsRegistry` — a JetStream key-value bucket on the NATS server (distributed mode).
 * In Kubernetes, `DISCOVERY=static` uses the `<SERVICE>_URL` variables instead
 * (Service DNS names; the cluster balances).
 */

/** What an instance says about its own readiness in each heartbeat. */
export type InstanceStatus = 'up' | 'down' | 'draining';

export interface ServiceInstance {
  /** Unique per process: `<service>-<host>-<pid>-<random>`. */
  readonly id: string;
  readonly service: string;
  /** Base URL callers use, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly version: string;
  readonly pid: number;
  readonly host: string;
  /** Free-form labels (zone, replica number, start time). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Readiness as of the last heartbeat: `up` (ready), `down` (a readiness check fails), `draining` (shutting down). */
  readonly status: InstanceStatus;
  readonly registeredAt: string;
  readonly heartbeatAt: string;
}

export type InstanceRegistration = Omit<ServiceInstance, 'status' | 'registeredAt' | 'heartbeatAt'> & { status?: InstanceStatus };

export interface Registry {
  readonly kind: 'postgres' | 'nats';
  /** Adds (or replaces) the instance; it lives `ttlMs` past its last heartbeat. */
  register(instance: InstanceRegistration): Promise<void>;
  /** Renews the instance's lease and records its status; re-registers it if it had expired. */
  heartbeat(instance: InstanceRegistration, status: InstanceStatus): Promise<void>;
  /** Removes the instance at once (graceful shutdown). */
  deregister(id: string): Promise<void>;
  /** Live (not expired) instances, of one service or of all. */
  list(service?: string): Promise<ServiceInstance[]>;
  close(): Promise<void>;
}
