import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { requireNats, testNatsUrl } from '../testing/nats.ts';
import { NatsRegistry } from './nats-registry.ts';
import { registryConformance } from './testing/registry-conformance.ts';

/**
 * The conformance suite against a real NATS server with JetStream
 * (`TEST_NATS_URL`, default the local one; not skipped when it is missing). Each
 * run uses its own prefix, so its own bucket, deleted at the end.
 */
const url = testNatsUrl();

registryConformance('NATS JetStream KV', async () => {
  const prefix = `conformance_${randomUUID().slice(0, 8)}`;
  const admin = new NatsRegistry(url, { prefix, ttlMs: 1_000, connectionName: 'registry-conformance-admin' });
  await requireNats(admin, () => admin.list(), url);
  return {
    connect: async (ttlMs) => new NatsRegistry(url, { prefix, ttlMs, connectionName: 'registry-conformance' }),
    cleanup: async () => {
      try {
        await admin.destroy();
      } finally {
        await admin.close();
      }
    },
  };
});

describe('NATS registry, bucket lost', () => {
  it('creates the bucket again at the next heartbeat after it was deleted (a server restarted without it)', async () => {
    const prefix = `lost_${randomUUID().slice(0, 8)}`;
    const [instanceSide, operator] = [new NatsRegistry(url, { prefix, ttlMs: 1_000 }), new NatsRegistry(url, { prefix, ttlMs: 1_000 })];
    const instance = { id: `svc-${prefix}-1`, service: `svc-${prefix}`, url: 'http://127.0.0.1:1', version: '1.0.0', pid: 1, host: 'h', metadata: {} };
    try {
      await instanceSide.register(instance);
      await operator.destroy();
      await operator.close();
      await instanceSide.heartbeat(instance, 'up').catch(() => {}); // the write that finds the bucket gone
      await instanceSide.heartbeat(instance, 'up');
      const reader = new NatsRegistry(url, { prefix, ttlMs: 1_000 });
      try {
        assert.deepEqual((await reader.list()).map((i) => i.id), [instance.id]);
      } finally {
        await reader.destroy();
        await reader.close();
      }
    } finally {
      await instanceSide.close();
    }
  });
});
