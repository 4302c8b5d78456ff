import type { Broker, BrokerOptions } from './broker.ts';
import { EmbeddedBroker } from './embedded-broker.ts';
import { NatsBroker } from './nats-broker.ts';

/** The adapter for `url`: `postgres://…` → the embedded broker, `nats://…` → NATS JetStream. */
export function connectBroker(url: string, options: BrokerOptions & { prefix?: string; partitions?: number } = {}): Broker {
  const scheme = url.slice(0, url.indexOf(':'));
  if (scheme === 'postgres' || scheme === 'postgresql') return new EmbeddedBroker(url, { ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}), ...(options.connectionName ? { connectionName: options.connectionName } : {}) });
  if (scheme === 'nats') return new NatsBroker(url, options);
  throw new Error(`BROKER_URL must start with postgres:// or nats:// (got ${scheme}://)`);
}
