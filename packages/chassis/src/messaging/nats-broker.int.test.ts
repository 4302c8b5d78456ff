import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { requireNats, testNatsUrl } from '../testing/nats.ts';
import { NatsBroker } from './nats-broker.ts';
import { Collector, brokerConformance, envelope, waitUntil } from './testing/broker-conformance.ts';
import { TcpProxy } from '../testing/tcp-proxy.ts';

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

/**
 * What the conformance suite cannot do on every backend alike: lose a
 * subscriber's connection while its pull requests wait on the server.
 */
describe('NATS subscriber across a lost connection', () => {
  it('pulls again as soon as the connection is back: a message published then is handled at once, not when the lost pull would have expired', async () => {
    const prefix = `resubscribe_${randomUUID().slice(0, 8)}`;
    const group = 'resubscribe';
    const proxy = await TcpProxy.start(new URL(url));
    const publisher = new NatsBroker(url, { prefix, partitions: 2, connectionName: 'resubscribe-test-publisher' });
    const subscriber = new NatsBroker(`nats://127.0.0.1:${proxy.port}`, { prefix, partitions: 2, connectionName: 'resubscribe-test' });
    try {
      await requireNats(publisher, () => publisher.ping(), url);
      await publisher.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const seen = new Collector();
      let gaps = 0;
      await subscriber.listen(['test.thing-happened.v1'], () => {}, { onGap: () => (gaps += 1) });
      await subscriber.subscribe(group, seen.handler());
      await publisher.publish([envelope('test.thing-happened', 'before')]);
      await seen.waitFor(1);

      // The connection drops while every durable has a pull request waiting on the server.
      proxy.dropConnections();
      await waitUntil(() => gaps === 1, 15_000); // reconnected
      const started = performance.now();
      await publisher.publish([envelope('test.thing-happened', 'after')]);
      await seen.waitFor(2, 5_000);
      assert.ok(performance.now() - started < 5_000);
      // One pull waiting per durable: the requests made before the loss went with their inbox.
      // (Served again once the inbox is re-subscribed, they would hand a second message to a
      // subscriber busy with one — a hung handler's own redelivery among them.)
      await waitUntil(async () => (await waitingPulls(prefix)).every((n) => n === 1), 5_000).catch(async () => {
        assert.deepEqual(await waitingPulls(prefix), [1, 1, 1, 1], 'waiting pulls per durable');
      });
    } finally {
      await subscriber.close();
      await publisher.deleteStreams().catch(() => {});
      await publisher.close();
      proxy.cut();
    }
  });
});

/** How many pull requests wait on the server, per durable of the run's streams. */
async function waitingPulls(prefix: string): Promise<number[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const counts: number[] = [];
    for (const stream of [`${prefix.toUpperCase()}_EVENTS`, `${prefix.toUpperCase()}_COMMANDS`]) {
      for await (const consumer of jsm.consumers.list(stream)) counts.push(consumer.num_waiting);
    }
    return counts;
  } finally {
    await nc.close();
  }
}
