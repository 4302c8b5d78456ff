import { connect, type NatsConnection, type QueuedIterator } from '@nats-io/transport-node';
import { StorageType } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { InstanceRegistration, InstanceStatus, Registry, ServiceInstance } from './registry.ts';

export interface NatsRegistryOptions {
  /** How long an instance stays listed after its last heartbeat; also the bucket's max age. */
  ttlMs: number;
  /** Lower-case prefix, as the broker's (BROKER_PREFIX): the bucket is `<prefix>_registry`. Default `bazaar`. */
  prefix?: string;
  /** The NATS connection's name. */
  connectionName?: string;
}

/** What a key holds; `heartbeatAt` is not stored but read from the entry's server timestamp. */
type StoredInstance = Omit<ServiceInstance, 'heartbeatAt'>;

/** How long the first read waits for the watcher's initial snapshot before answering from what it has. */
const FIRST_SYNC_TIMEOUT_MS = 3_000;
/** Pause before a watcher that ended (server restart, stream deleted) is started again. */
const REWATCH_DELAY_MS = 1_000;

interface Connected {
  nc: NatsConnection;
  kv: KV;
}

/**
 * The registry as a JetStream key-value bucket, `<prefix>_registry`: one key per
 * instance (its id, encoded for KV), the value its registration as JSON. Every
 * heartbeat puts the key again. nats-server 2.9 has no per-key TTL, so the
 * bucket's max age is the TTL: the server drops a key once its last heartbeat is
 * that old — lazily, so readers also ignore entries whose last put (server time)
 * is older than the TTL. Deregistering purges the key.
 *
 * Each registry keeps a local copy of the bucket, fed by a watcher (the last
 * value of every key, then every change), so `list` costs no round trip.
 */
export class NatsRegistry implements Registry {
  readonly kind = 'nats' as const;
  readonly bucket: string;
  private readonly url: string;
  private readonly ttlMs: number;
  private readonly connectionName: string;
  /** Live and recently expired entries by key, as of the watcher. */
  private entries = new Map<string, ServiceInstance>();
  private connection: Promise<Connected> | undefined;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(url: string, options: NatsRegistryOptions) {
    const prefix = options.prefix ?? 'bazaar';
    if (!/^[a-z][a-z0-9_-]*$/.test(prefix)) throw new Error(`the registry prefix must be lower-case letters, digits, _ and - (got "${prefix}")`);
    if (!(options.ttlMs > 0)) throw new Error(`the registry's ttlMs must be positive (got ${options.ttlMs})`);
    this.url = url;
    this.ttlMs = options.ttlMs;
    this.bucket = `${prefix}_registry`;
    this.connectionName = options.connectionName ?? 'bazaar-registry';
  }

  /** The connection, the bucket and a first copy of it, on first use; a failed attempt is retried by the next call. */
  private connected(): Promise<Connected> {
    if (this.closed) return Promise.reject(new Error('the NATS registry is closed'));
    this.connection ??= this.open().catch((error: unknown) => {
      this.connection = undefined;
      throw error;
    });
    return this.connection;
  }

  private async open(): Promise<Connected> {
    const nc = await connect({ servers: this.url.split(','), name: this.connectionName, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    try {
      // Opens the bucket as it is when it exists (another process may have made it with another TTL).
      const kvm = new Kvm(nc);
      const kv = await kvm.create(this.bucket, { history: 1, ttl: this.ttlMs, storage: StorageType.File }).catch(async (error: unknown) => {
        // Another process created it between our look and our create, with another TTL: use theirs.
        if (/already in use/i.test((error as Error).message)) return kvm.open(this.bucket);
        throw error;
      });
      await this.watch(kv, nc);
      return { nc, kv };
    } catch (error) {
      await nc.close().catch(() => {});
      throw error;
    }
  }

  /**
   * Starts the watcher and resolves once it delivered the bucket's current
   * content (or after FIRST_SYNC_TIMEOUT_MS). The snapshot is built aside and
   * swapped in whole, so a restarted watcher never shows a half-filled copy.
   */
  private async watch(kv: KV, nc: NatsConnection): Promise<void> {
    const iterator = await kv.watch({ include: KvWatchInclude.LastValue });
    this.watcher = iterator;
    let snapshot: Map<string, ServiceInstance> | undefined = new Map();
    let synced!: () => void;
    const firstSync = new Promise<void>((resolve) => (synced = resolve));
    const finishSnapshot = (swap = true) => {
      if (!snapshot) return;
      if (swap) this.entries = snapshot;
      snapshot = undefined;
      synced();
    };
    const timeout = setTimeout(() => finishSnapshot(), FIRST_SYNC_TIMEOUT_MS);
    void (async () => {
      try {
        for await (const entry of iterator) {
          apply(snapshot ?? this.entries, entry);
          // The last key of the snapshot has nothing pending after it; anything later is an update.
          if (snapshot && (entry.isUpdate || entry.delta === 0)) finishSnapshot();
        }
      } catch {
        // The watcher failed; it is started again below.
      } finally {
        clearTimeout(timeout);
        finishSnapshot(false); // a watcher that died half-way: keep the previous copy
        if (this.watcher === iterator) this.scheduleRewatch(kv, nc);
      }
    })();
    try {
      // An empty bucket delivers nothing: the snapshot is already complete.
      if ((await kv.status()).values === 0) finishSnapshot();
    } catch (error) {
      this.watcher = undefined;
      iterator.stop();
      throw error;
    }
    await firstSync;
  }

  /** Watches again after a pause, as long as this connection is the registry's. */
  private scheduleRewatch(kv: KV, nc: NatsConnection): void {
    if (this.closed || nc.isClosed()) return;
    this.rewatchTimer = setTimeout(() => void this.watch(kv, nc).catch(() => this.scheduleRewatch(kv, nc)), REWATCH_DELAY_MS);
    this.rewatchTimer.unref();
  }

  async register(instance: InstanceRegistration): Promise<void> {
    await this.writing((kv) => this.put(kv, instance, instance.status ?? 'up', new Date().toISOString()));
  }

  async heartbeat(instance: InstanceRegistration, status: InstanceStatus): Promise<void> {
    // A live registration keeps its start; one that expired starts again.
    const current = this.entries.get(instanceKey(instance.id));
    const registeredAt = current && this.isLive(current) ? current.registeredAt : new Date().toISOString();
    await this.writing((kv) => this.put(kv, instance, status, registeredAt));
  }

  /**
   * Runs a write on the bucket. When it fails, the connection is dropped and the
   * next call opens a new one and creates the bucket again: a NATS server that
   * restarted without it (or an operator who deleted it) costs one heartbeat.
   */
  private async writing(write: (kv: KV) => Promise<unknown>): Promise<void> {
    const connection = this.connected();
    const { kv, nc } = await connection;
    try {
      await write(kv);
    } catch (error) {
      if (this.connection === connection) {
        this.connection = undefined;
        this.watcher = undefined; // a fresh watcher comes with the next connection
        await nc.close().catch(() => {});
      }
      throw error;
    }
  }

  private async put(kv: KV, instance: InstanceRegistration, status: InstanceStatus, registeredAt: string): Promise<void> {
    const stored: StoredInstance = {
      id: instance.id,
      service: instance.service,
      url: instance.url,
      version: instance.version,
      pid: instance.pid,
      host: instance.host,
      metadata: instance.metadata,
      status,
      registeredAt,
    };
    const key = instanceKey(instance.id);
    await kv.put(key, JSON.stringify(stored));
    // Our own copy shows it now, without waiting for the watcher (as `deregister` forgets it):
    // a process lists what it just registered. The watcher's entry, stamped by the server, replaces it.
    this.entries.set(key, { ...stored, heartbeatAt: new Date().toISOString() });
  }

  async deregister(id: string): Promise<void> {
    await this.writing((kv) => kv.purge(instanceKey(id)));
    // Our own copy forgets it now, without waiting for the watcher.
    this.entries.delete(instanceKey(id));
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    await this.connected();
    const live: ServiceInstance[] = [];
    for (const [key, instance] of this.entries) {
      if (!this.isLive(instance)) this.entries.delete(key);
      else if (service === undefined || instance.service === service) live.push(instance);
    }
    return live.sort((a, b) => a.service.localeCompare(b.service) || a.registeredAt.localeCompare(b.registeredAt) || a.id.localeCompare(b.id));
  }

  private isLive(instance: ServiceInstance): boolean {
    return Date.now() - Date.parse(instance.heartbeatAt) <= this.ttlMs;
  }

  /** Deletes the bucket with everything in it (tests, tearing an environment down). */
  async destroy(): Promise<void> {
    const { kv } = await this.connected();
    this.watcher = undefined;
    await kv.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.rewatchTimer);
    const connection = this.connection;
    this.connection = undefined;
    this.watcher?.stop();
    this.watcher = undefined;
    const connected = await connection?.catch(() => undefined);
    await connected?.nc.close().catch(() => {});
  }
}

/** Updates a copy of the bucket with one watched entry. */
function apply(entries: Map<string, ServiceInstance>, entry: KvWatchEntry): void {
  if (entry.operation !== 'PUT') {
    entries.delete(entry.key);
    return;
  }
  try {
    const stored = entry.json<StoredInstance>();
    entries.set(entry.key, { ...stored, heartbeatAt: entry.created.toISOString() });
  } catch {
    entries.delete(entry.key); // not ours to read
  }
}

/**
 * An instance id as a KV key: letters, digits, `-` and `_` stay; anything else
 * (dots would make it hierarchical) becomes `=` and its UTF-8 bytes in hex, so
 * distinct ids stay distinct keys.
 */
export function instanceKey(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/gu, (char) => [...Buffer.from(char, 'utf8')].map((byte) => `=${byte.toString(16).padStart(2, '0')}`).join(''));
}
