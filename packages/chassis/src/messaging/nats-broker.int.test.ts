import { randomUUID } from 'node:crypto';
import { NatsBroker } from './nats-broker.ts';
import { brokerConformance } from './testing/broker-conformance.ts';

/**
 * The conformance suite against a real NATS server with JetStream
 * (`TEST_NATS_URL`, default the local one). Not skipped when NATS is missing: CI
 * provides it, and a silently skipped adapter would pass for working. Each run
 * uses its own subject prefix and streams, deleted at the end.
 */
const url = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

brokerConformance('NATS JetStream', async () => {
  const prefix = `conformance_${randomUUID().slice(0, 8)}`;
  const admin = new NatsBroker(url, { prefix, connectionName: 'broker-conformance-admin' });
  try {
    await admin.ping();
  } catch (error) {
    await admin.close().catch(() => {});
    throw new Error(
      `NATS with JetStream is not reachable at ${url} (${(error as Error).message}). ` +
        'Start one (nats-server -js) or point TEST_NATS_URL at one; these tests are not skipped without it.',
      { cause: error },
    );
  }
  return {
    connect: async (options) => new NatsBroker(url, { ...options, prefix, connectionName: 'broker-conformance' }),
    cleanup: async () => {
      try {
        await admin.deleteStreams();
      } finally {
        await admin.close();
      }
    },
  };
});
