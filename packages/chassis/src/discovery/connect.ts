import { NatsRegistry } from './nats-registry.ts';
import { PostgresRegistry } from './postgres-registry.ts';
import type { Registry } from './registry.ts';

export interface RegistryOptions {
  /** How long an instance stays listed after its last heartbeat. */
  ttlMs: number;
  /** NATS only: the bucket is `<prefix>_registry` (BROKER_PREFIX). Default `bazaar`. */
  prefix?: string;
  /** Name of the connection(s), as the server shows them. */
  connectionName?: string;
}

/** The store for `url`: `postgres://…` → a table in that database, `nats://…` → a JetStream KV bucket. */
export function connectRegistry(url: string, options: RegistryOptions): Registry {
  const scheme = url.slice(0, url.indexOf(':'));
  if (scheme === 'postgres' || scheme === 'postgresql') {
    return new PostgresRegistry(url, { ttlMs: options.ttlMs, ...(options.connectionName ? { connectionName: options.connectionName } : {}) });
  }
  if (scheme === 'nats') return new NatsRegistry(url, options);
  throw new Error(`REGISTRY_URL must start with postgres:// or nats:// (got ${scheme}://)`);
}
