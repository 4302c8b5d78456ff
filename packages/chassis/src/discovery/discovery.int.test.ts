import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { Discovery, type DiscoveryLog } from './discovery.ts';
import { NatsRegistry } from './nats-registry.ts';
import { PostgresRegistry } from './postgres-registry.ts';
import { Registration } from './registration.ts';
import type { InstanceStatus, Registry } from './registry.ts';
import { testNatsUrl } from '../testing/nats.ts';

/**
 * Registration (an instance's side) and Discovery (a caller's side) together,
 * on both stores, with the short timings of tests: TTL 1 s, heartbeats every
 * 200 ms, refreshes every 200 ms.
 */
const TTL_MS = 1_000;
const HEARTBEAT_MS = 200;
const REFRESH_MS = 200;
const natsUrl = testNatsUrl();

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const stores: Array<{ name: string; connect: () => Promise<() => Registry> }> = [
  {
    name: 'PostgreSQL',
    connect: async () => {
      const { url, drop } = await freshDatabase('discovery');
      cleanups.push(drop);
      return () => track(new PostgresRegistry(url, { ttlMs: TTL_MS }));
    },
  },
  {
    name: 'NATS',
    connect: async () => {
      const prefix = `discovery_${randomUUID().slice(0, 8)}`;
      const admin = new NatsRegistry(natsUrl, { prefix, ttlMs: TTL_MS });
      cleanups.push(async () => {
        await admin.destroy();
        await admin.close();
      });
      return () => track(new NatsRegistry(natsUrl, { prefix, ttlMs: TTL_MS }));
    },
  },
];

function track<R extends Registry>(registry: R): R {
  cleanups.push(() => registry.close());
  return registry;
}

function started(discovery: Discovery): Discovery {
  cleanups.push(() => discovery.stop());
  return discovery;
}

function registration(registry: Registry, service: string, status: () => InstanceStatus = () => 'up', log?: DiscoveryLog): Registration {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const r = new Registration({
    registry,
    heartbeatMs: HEARTBEAT_MS,
    status,
    ...(log ? { log } : {}),
    instance: { id: `${service}-test-${port}-${randomUUID().slice(0, 6)}`, service, url: `http://127.0.0.1:${port}`, version: '1.0.0', pid: port, host: 'test', metadata: { replica: '1' } },
  });
  cleanups.push(() => r.stop());
  return r;
}

const ids = (discovery: Discovery, service: string) => discovery.instances(service).map((i) => i.id);

for (const store of stores) {
  describe(`discovery on ${store.name}`, async () => {
    const newRegistry = await store.connect();

    it('sees a new instance within a refresh, and hears about it', async () => {
      const service = `catalog-${randomUUID().slice(0, 8)}`;
      const discovery = started(new Discovery({ registry: newRegistry(), refreshMs: REFRESH_MS }));
      await discovery.start();
      const changes: string[][] = [];
      discovery.onChange((services) => changes.push([...services]));
      assert.deepEqual(discovery.instances(service), []);

      const instance = registration(newRegistry(), service);
      await instance.start();
      const startedAt = Date.now();
      await eventually(() => (ids(discovery, service).includes(instance.instance.id) ? true : undefined), 'the new instance', 3_000, 10);
      assert.ok(Date.now() - startedAt < REFRESH_MS * 4, `seen within a refresh (took ${Date.now() - startedAt} ms)`);
      assert.ok(changes.some((c) => c.includes(service)), 'listeners heard of the change');
      const [seen] = discovery.instances(service);
      assert.equal(seen!.url, instance.instance.url);
      assert.equal(seen!.status, 'up');
      assert.deepEqual(seen!.metadata, { replica: '1' });
      assert.equal(discovery.instances(service), discovery.instances(service), 'the same array until something changes');
    });

    it('refreshes at once for a service it has not been asked about', async () => {
      const service = `orders-${randomUUID().slice(0, 8)}`;
      const discovery = started(new Discovery({ registry: newRegistry(), refreshMs: 60_000 }));
      await discovery.start();
      const instance = registration(newRegistry(), service);
      await instance.start();
      await sleep(300); // let a NATS watcher catch up
      assert.deepEqual(discovery.instances(service), [], 'the first answer comes from the cache');
      await eventually(() => (ids(discovery, service).length === 1 ? true : undefined), 'the refresh triggered by the question', 2_000, 10);
    });

    it('drops a deregistered instance within a refresh, and an expired one after its TTL', async () => {
      const service = `payments-${randomUUID().slice(0, 8)}`;
      const discovery = started(new Discovery({ registry: newRegistry(), refreshMs: REFRESH_MS }));
      await discovery.start();
      const [leaving, killed, staying] = [registration(newRegistry(), service), registration(newRegistry(), service), registration(newRegistry(), service)];
      for (const r of [leaving, killed, staying]) await r.start();
      await eventually(() => (ids(discovery, service).length === 3 ? true : undefined), 'three instances', 3_000);

      await leaving.drain();
      const drainedAt = Date.now();
      await eventually(() => (ids(discovery, service).includes(leaving.instance.id) ? undefined : true), 'the drained instance to go', 3_000, 10);
      assert.ok(Date.now() - drainedAt < REFRESH_MS * 4, `gone within a refresh (took ${Date.now() - drainedAt} ms)`);

      await killed.stop(); // heartbeats stop, as when the process is killed
      const killedAt = Date.now();
      await eventually(() => (ids(discovery, service).includes(killed.instance.id) ? undefined : true), 'the silent instance to expire', TTL_MS * 4);
      assert.ok(Date.now() - killedAt >= TTL_MS * 0.5, `not dropped before its TTL (after ${Date.now() - killedAt} ms)`);
      assert.deepEqual(ids(discovery, service), [staying.instance.id]);
    });

    it('offers only instances that are up, and the static URL when none is', async () => {
      const service = `shipping-${randomUUID().slice(0, 8)}`;
      const discovery = started(new Discovery({ registry: newRegistry(), refreshMs: REFRESH_MS, staticUrls: { [service]: 'http://127.0.0.1:4999/' } }));
      await discovery.start();
      const fallback = discovery.instances(service);
      assert.equal(fallback.length, 1);
      assert.equal(fallback[0]!.id, `static:${service}`);
      assert.equal(fallback[0]!.url, 'http://127.0.0.1:4999');
      assert.equal(fallback[0]!.status, 'up');

      let status: InstanceStatus = 'up';
      const instance = registration(newRegistry(), service, () => status);
      await instance.start();
      await eventually(() => (ids(discovery, service).join() === instance.instance.id ? true : undefined), 'the registered instance instead of the static URL', 3_000);

      status = 'down'; // e.g. its database stopped answering
      await eventually(() => (ids(discovery, service).join() === `static:${service}` ? true : undefined), 'the static URL again while the instance is down', 3_000);
      const listed = discovery.all().find((i) => i.id === instance.instance.id);
      assert.equal(listed?.status, 'down', 'all() still shows the instance that is down');

      status = 'up';
      await eventually(() => (ids(discovery, service).join() === instance.instance.id ? true : undefined), 'the instance back once up', 3_000);
      assert.deepEqual(started(new Discovery({ registry: newRegistry(), refreshMs: REFRESH_MS })).instances(`none-${service}`), [], 'nothing without instance or URL');
    });
  });
}

describe('discovery without a registry', () => {
  it('serves only the static URLs', async () => {
    const discovery = new Discovery({ staticUrls: { identity: 'http://127.0.0.1:4001' } });
    await discovery.start();
    assert.equal(discovery.mode, 'static');
    assert.deepEqual(discovery.instances('identity').map((i) => [i.id, i.url]), [['static:identity', 'http://127.0.0.1:4001']]);
    assert.deepEqual(discovery.instances('catalog'), []);
    assert.deepEqual(discovery.all(), []);
    await discovery.stop();
  });
});

describe('a registry that cannot be reached', () => {
  it('neither crashes the instance nor empties the callers, and warns once, not every tick', async () => {
    const warnings: string[] = [];
    const log: DiscoveryLog = { info: () => {}, warn: (_details, message) => void warnings.push(message) };
    // Nothing listens on port 1: every query fails.
    const unreachable = track(new PostgresRegistry('postgres://postgres@127.0.0.1:1/nothing', { ttlMs: TTL_MS }));
    const instance = registration(unreachable, 'identity', () => 'up', log);
    await instance.start(); // resolves although registering failed
    const discovery = started(new Discovery({ registry: unreachable, refreshMs: 50, staticUrls: { identity: 'http://127.0.0.1:4001' }, log }));
    await discovery.start();
    await sleep(HEARTBEAT_MS * 4);
    assert.deepEqual(ids(discovery, 'identity'), ['static:identity']);
    assert.equal(warnings.filter((w) => w.includes('heartbeat')).length, 1, `one heartbeat warning: ${warnings.join(' | ')}`);
    assert.equal(warnings.filter((w) => w.includes('cannot read')).length, 1, `one refresh warning: ${warnings.join(' | ')}`);
    await instance.drain(); // also without throwing
  });
});
