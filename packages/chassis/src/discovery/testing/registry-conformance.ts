import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@bazaar/runtime/testing/eventually';
import type { InstanceRegistration, Registry, ServiceInstance } from '../registry.ts';

/**
 * One conformance suite for every registry store: what Registration and
 * Discovery rely on, asserted against a real backend with a short TTL.
 */
export interface RegistryTarget {
  /** A new registry (as a separate process would have) on the shared backend. */
  connect(ttlMs: number): Promise<Registry>;
  /** Drops what the suite created. */
  cleanup(): Promise<void>;
}

export const CONFORMANCE_TTL_MS = 1_000;

export function registryConformance(name: string, setup: () => Promise<RegistryTarget>): void {
  describe(`registry conformance: ${name}`, () => {
    let target: RegistryTarget;
    const registries: Registry[] = [];
    const connect = async (ttlMs = CONFORMANCE_TTL_MS): Promise<Registry> => {
      const registry = await target.connect(ttlMs);
      registries.push(registry);
      return registry;
    };

    before(async () => {
      target = await setup();
    });
    after(async () => {
      await Promise.allSettled(registries.map((r) => r.close()));
      await target.cleanup();
    });

    it('lists registered instances, all of them or those of one service', async () => {
      const registry = await connect();
      const [a, b] = [service('a'), service('b')];
      const a1 = instance(a, { metadata: { replica: '1', zone: 'z.1' } });
      const a2 = instance(a, { version: '2.0.0' });
      const b1 = instance(b);
      for (const i of [a1, a2, b1]) await registry.register(i);

      const listedA = await registry.list(a);
      assert.deepEqual(listedA.map((i) => i.id).sort(), [a1.id, a2.id].sort());
      const found = listedA.find((i) => i.id === a1.id)!;
      assert.deepEqual(
        { id: found.id, service: found.service, url: found.url, version: found.version, pid: found.pid, host: found.host, metadata: found.metadata, status: found.status },
        { ...a1, status: 'up' },
      );
      assert.ok(isIsoTime(found.registeredAt) && isIsoTime(found.heartbeatAt), `times are ISO strings: ${found.registeredAt} ${found.heartbeatAt}`);
      assert.deepEqual((await registry.list(b)).map((i) => i.id), [b1.id]);
      const all = (await registry.list()).map((i) => i.id);
      for (const i of [a1, a2, b1]) assert.ok(all.includes(i.id), `${i.id} in the full list`);
      assert.deepEqual(await registry.list(service('none')), []);
    });

    it('shows one process what another registered', async () => {
      const [writer, reader] = [await connect(), await connect()];
      const s = service('shared');
      const i = instance(s);
      await writer.register(i);
      await eventually(async () => ((await reader.list(s)).some((l) => l.id === i.id) ? true : undefined), 'the other registry to list the instance', 5_000);
      await writer.deregister(i.id);
      await eventually(async () => ((await reader.list(s)).length === 0 ? true : undefined), 'the other registry to drop the deregistered instance', 5_000);
    });

    it('registering again under the same id replaces the entry', async () => {
      const registry = await connect();
      const s = service('replace');
      const i = instance(s);
      await registry.register(i);
      await registry.register({ ...i, url: 'http://127.0.0.1:2' });
      await eventually(async () => {
        const listed = await registry.list(s);
        return listed.length === 1 && listed[0]!.url === 'http://127.0.0.1:2' ? true : undefined;
      }, 'one entry with the new url', 3_000);
    });

    it('heartbeats keep an instance listed well past the TTL, keeping its registration time', async () => {
      const registry = await connect();
      const s = service('beat');
      const i = instance(s);
      await registry.register(i);
      const first = await listedOne(registry, s, i.id);
      const until = Date.now() + CONFORMANCE_TTL_MS * 2.5;
      while (Date.now() < until) {
        await sleep(CONFORMANCE_TTL_MS / 4);
        await registry.heartbeat(i, 'up');
        assert.ok((await registry.list(s)).some((l) => l.id === i.id), 'still listed while heartbeating');
      }
      const later = await listedOne(registry, s, i.id);
      assert.equal(later.registeredAt, first.registeredAt);
      assert.ok(Date.parse(later.heartbeatAt) > Date.parse(first.heartbeatAt), 'the heartbeat time moved on');
    });

    it('expires an instance whose heartbeats stopped, and takes it back when they resume', async () => {
      const registry = await connect();
      const s = service('expire');
      const [dies, lives] = [instance(s), instance(s)];
      await registry.register(dies);
      await registry.register(lives);
      const registeredAt = (await listedOne(registry, s, dies.id)).registeredAt;
      const keepAlive = setInterval(() => void registry.heartbeat(lives, 'up').catch(() => {}), CONFORMANCE_TTL_MS / 4);
      try {
        const started = Date.now();
        await eventually(async () => ((await registry.list(s)).some((l) => l.id === dies.id) ? undefined : true), 'the silent instance to expire', CONFORMANCE_TTL_MS * 5);
        assert.ok(Date.now() - started >= CONFORMANCE_TTL_MS * 0.7, `not expired before its TTL (after ${Date.now() - started} ms)`);
        assert.ok((await registry.list(s)).some((l) => l.id === lives.id), 'the heartbeating one stays');

        await registry.heartbeat(dies, 'up');
        const back = await listedOne(registry, s, dies.id);
        assert.ok(Date.parse(back.registeredAt) > Date.parse(registeredAt), 'a heartbeat after expiry registers it anew');
      } finally {
        clearInterval(keepAlive);
      }
    });

    it('deregistering removes the instance at once', async () => {
      const registry = await connect();
      const s = service('gone');
      const [leaves, stays] = [instance(s), instance(s)];
      await registry.register(leaves);
      await registry.register(stays);
      await listedOne(registry, s, leaves.id);
      await registry.deregister(leaves.id);
      assert.deepEqual((await registry.list(s)).map((l) => l.id), [stays.id]);
      await registry.deregister(`${leaves.id}-never-registered`); // not an error
    });

    it('records the status each heartbeat reports', async () => {
      const registry = await connect();
      const s = service('status');
      const i = instance(s);
      await registry.register({ ...i, status: 'down' });
      assert.equal((await listedOne(registry, s, i.id)).status, 'down');
      for (const status of ['up', 'draining', 'down'] as const) {
        await registry.heartbeat(i, status);
        await eventually(async () => ((await registry.list(s)).find((l) => l.id === i.id)?.status === status ? true : undefined), `status ${status}`, 3_000);
      }
    });

    it('keeps ids with dots, slashes and other characters apart', async () => {
      const registry = await connect();
      const s = service('ids');
      const ids = [`${s}-host.example.com-1-a`, `${s}-host_example_com-1-a`, `${s}-host/x=y:1-a`, `${s}-hôst-1-a`];
      for (const id of ids) await registry.register(instance(s, { id }));
      await eventually(async () => ((await registry.list(s)).length === ids.length ? true : undefined), 'every id listed', 3_000);
      assert.deepEqual((await registry.list(s)).map((l) => l.id).sort(), [...ids].sort());
      await registry.deregister(ids[0]!);
      assert.deepEqual((await registry.list(s)).map((l) => l.id).sort(), ids.slice(1).sort());
    });
  });
}

function service(label: string): string {
  return `svc-${label}-${randomUUID().slice(0, 8)}`;
}

let pid = 40_000;
function instance(serviceName: string, overrides: Partial<InstanceRegistration> = {}): InstanceRegistration {
  pid++;
  return {
    id: `${serviceName}-testhost-${pid}-${randomUUID().slice(0, 6)}`,
    service: serviceName,
    url: `http://127.0.0.1:${pid}`,
    version: '1.0.0',
    pid,
    host: 'testhost',
    metadata: {},
    ...overrides,
  };
}

/** The instance `id` of `serviceName`, waiting briefly for it to show (a watcher may lag). */
async function listedOne(registry: Registry, serviceName: string, id: string): Promise<ServiceInstance> {
  return eventually(async () => (await registry.list(serviceName)).find((l) => l.id === id), `${id} to be listed`, 3_000);
}

function isIsoTime(value: string): boolean {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value)) && value.endsWith('Z');
}
