import { randomUUID } from 'node:crypto';
import { requireNats, testNatsUrl } from '../testing/nats.ts';
import { NatsBroker } from './nats-broker.ts';
import { brokerConformance } from './testing/broker-conformance.ts';

/**
 * The conformance suite against a real NATS server with JetStream
 * (`TEST_NATS_URL`, default the local one). Not skipped when NATS is missing: CI
 * provides it, and a silently skipped adapter would pass for working. Each run
 * uses its own subject prefix and streams, deleted at the end.
 */
const url = testNatsUrl();

brokerConformance('NATS JetStream', async () => {
  const prefix = `conformance_${randomUUID().slice(0, 8)}`;
  const admin = new NatsBroker(url, { prefix, connectionName: 'broker-conformance-admin' });
  await requireNats(admin, () => admin.ping(), url);
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
