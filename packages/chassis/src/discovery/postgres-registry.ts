import pg from 'pg';
import type { InstanceRegistration, InstanceStatus, Registry, ServiceInstance } from './registry.ts';

export interface PostgresRegistryOptions {
  /** How long an instance stays listed after its last heartbeat. */
  ttlMs: number;
  /** `application_name` of the registry's connections. */
  connectionName?: string;
}

/** Advisory lock around the schema creation, so processes starting together do not race on it. */
const SCHEMA_LOCK = 0x6261_7a72; // 'bazr'
/** Expired rows are deleted at most this often, by whichever process heartbeats or lists. */
const PRUNE_EVERY_MS = 30_000;

interface InstanceRow {
  id: string;
  service: string;
  url: string;
  version: string;
  pid: number;
  host: string;
  metadata: Record<string, string>;
  status: InstanceStatus;
  registered_at: Date;
  heartbeat_at: Date;
}

/**
 * The registry as a table, `registry_instances`, in the database it is given (in
 * embedded mode: the embedded broker's). Each row carries its own `expires_at`,
 * renewed by every heartbeat; `list` shows only unexpired rows and expired ones
 * are deleted now and then. Times are the database server's, so instances on
 * hosts with skewed clocks still expire when they should.
 */
export class PostgresRegistry implements Registry {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly ttlMs: number;
  private schemaReady: Promise<void> | undefined;
  private lastPrune = 0;

  constructor(url: string, options: PostgresRegistryOptions) {
    if (!(options.ttlMs > 0)) throw new Error(`the registry's ttlMs must be positive (got ${options.ttlMs})`);
    this.ttlMs = options.ttlMs;
    this.pool = new pg.Pool({ connectionString: url, max: 2, application_name: options.connectionName ?? 'bazaar-registry', connectionTimeoutMillis: 5_000 });
    // A dropped idle connection is replaced on next use; the caller sees the failed query, not a crash.
    this.pool.on('error', () => {});
  }

  private ensureSchema(): Promise<void> {
    this.schemaReady ??= createSchema(this.pool).catch((error: unknown) => {
      this.schemaReady = undefined;
      throw error;
    });
    return this.schemaReady;
  }

  async register(instance: InstanceRegistration): Promise<void> {
    await this.upsert(instance, instance.status ?? 'up', true);
  }

  async heartbeat(instance: InstanceRegistration, status: InstanceStatus): Promise<void> {
    await this.upsert(instance, status, false);
    this.maybePrune();
  }

  /**
   * One statement for both: a fresh registration (or one whose row had expired)
   * starts a new `registered_at`; a heartbeat on a live row keeps it.
   */
  private async upsert(instance: InstanceRegistration, status: InstanceStatus, fresh: boolean): Promise<void> {
    await this.ensureSchema();
    await this.pool.query(
      `INSERT INTO registry_instances (id, service, url, version, pid, host, metadata, status, registered_at, heartbeat_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), now() + $9 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET
         service = excluded.service, url = excluded.url, version = excluded.version, pid = excluded.pid,
         host = excluded.host, metadata = excluded.metadata, status = excluded.status,
         registered_at = CASE WHEN $10 OR registry_instances.expires_at <= now() THEN now() ELSE registry_instances.registered_at END,
         heartbeat_at = now(), expires_at = excluded.expires_at`,
      [instance.id, instance.service, instance.url, instance.version, instance.pid, instance.host, JSON.stringify(instance.metadata), status, this.ttlMs, fresh],
    );
  }

  async deregister(id: string): Promise<void> {
    await this.ensureSchema();
    await this.pool.query('DELETE FROM registry_instances WHERE id = $1', [id]);
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    await this.ensureSchema();
    const { rows } = await this.pool.query<InstanceRow>(
      `SELECT id, service, url, version, pid, host, metadata, status, registered_at, heartbeat_at
       FROM registry_instances
       WHERE expires_at > now() AND ($1::text IS NULL OR service = $1)
       ORDER BY service, registered_at, id`,
      [service ?? null],
    );
    this.maybePrune();
    return rows.map((row) => ({
      id: row.id,
      service: row.service,
      url: row.url,
      version: row.version,
      pid: row.pid,
      host: row.host,
      metadata: row.metadata,
      status: row.status,
      registeredAt: row.registered_at.toISOString(),
      heartbeatAt: row.heartbeat_at.toISOString(),
    }));
  }

  /** Deletes expired rows, at most every PRUNE_EVERY_MS, in the background. */
  private maybePrune(): void {
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    this.pool.query('DELETE FROM registry_instances WHERE expires_at <= now()').catch(() => {});
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

async function createSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS registry_instances (
        id text PRIMARY KEY,
        service text NOT NULL,
        url text NOT NULL,
        version text NOT NULL,
        pid integer NOT NULL,
        host text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL CHECK (status IN ('up', 'down', 'draining')),
        registered_at timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL);
      CREATE INDEX IF NOT EXISTS registry_instances_service ON registry_instances (service, expires_at);`);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => {});
    client.release();
  }
}
