import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { parseMessageName, type Envelope } from '@bazaar/contracts/messages';
import type { Database } from '../../database.ts';
import type { Broker, BrokerOptions } from '../broker.ts';
import { EmbeddedBroker } from '../embedded-broker.ts';
import { createDatabaseIfMissing, databaseUrl } from '../../database.ts';

/** A silent logger for messaging components under test. */
export const quietLog = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

import { testNatsUrl } from '../../testing/nats.ts';

/** A broker backend for tests: every `connect()` is a new client (as another process would be). */
export interface TestBackend {
  name: 'embedded' | 'nats';
  connect(options?: BrokerOptions): Broker;
  cleanup(): Promise<void>;
}

/** The embedded broker on a fresh database of the test server. */
export async function embeddedBackend(serverUrl: string): Promise<TestBackend> {
  const name = `t_broker_${randomUUID().slice(0, 8)}`;
  await createDatabaseIfMissing(serverUrl, name);
  const url = databaseUrl(serverUrl, name);
  return {
    name: 'embedded',
    connect: (options) => new EmbeddedBroker(url, { ...options }),
    cleanup: async () => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => client.end());
    },
  };
}

/** NATS JetStream under a prefix of its own, so runs never see each other's streams. */
export async function natsBackend(url = testNatsUrl()): Promise<TestBackend> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const { NatsBroker } = await import('../nats-broker.ts');
  return {
    name: 'nats',
    connect: (options) => new NatsBroker(url, { ...options, prefix }),
    cleanup: async () => {
      const admin = new NatsBroker(url, { prefix });
      await admin.deleteStreams().finally(() => admin.close());
    },
  };
}

/** Counts outbox rows not yet published. */
export async function backlog(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
  return rows[0]!.n;
}

export function envelopeOf(name: string, key: string, data: unknown): Envelope {
  const { type, version } = parseMessageName(name);
  return { id: randomUUID(), type, version, time: new Date().toISOString(), key, correlationId: randomUUID(), causationId: null, data };
}
