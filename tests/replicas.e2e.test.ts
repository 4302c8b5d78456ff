/**
 * `npm start -- --replicas catalog=2`: two catalog processes, each on its own
 * port, both registered in the service registry (the embedded broker's
 * database), both in runtime.json; a replica that stops drains out of the
 * registry and comes back under its own name.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { PostgresRegistry, type ServiceInstance } from '@bazaar/chassis';
import { freePort } from '@bazaar/runtime/ports';
import { readRuntimeFile, type RuntimeFile } from '@bazaar/runtime/runtime-file';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { replicaPids, startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';

describe('replicas', () => {
  let system: RunningSystem;
  let stateDir: string;
  let runtime: RuntimeFile;
  let registry: PostgresRegistry;

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-replicas-'));
    system = await startSystem(stateDir, await freePort(), { replicas: { catalog: 2 } });
    runtime = (await readRuntimeFile(stateDir))!;
    // Embedded mode: the registry is a table in the broker's database.
    registry = new PostgresRegistry(runtime.broker, { ttlMs: 6_000 });
  });

  after(async () => {
    await registry?.close();
    if (system) await stopSystem(system);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('runs each replica as its own process on its own port, listed in runtime.json', async () => {
    const catalog = runtime.instances.catalog;
    assert.deepEqual(catalog.map((i) => i.replica), [1, 2]);
    assert.equal(catalog[0]!.url, runtime.services.catalog, 'replica 1 is what CATALOG_URL points at');
    assert.notEqual(catalog[0]!.url, catalog[1]!.url);
    assert.notEqual(catalog[0]!.pid, catalog[1]!.pid);
    assert.deepEqual(runtime.instances.orders.map((i) => i.replica), [1], 'other services run one process');
    const pids = replicaPids(system);
    assert.equal(pids['catalog'], catalog[0]!.pid);
    assert.equal(pids['catalog#2'], catalog[1]!.pid);
    assert.ok(system.output.some((line) => /^\s+catalog#2\s+http:\/\/127\.0\.0\.1:\d+\s+\(pid \d+\)/.test(line)), 'the summary lists replica 2');
    assert.ok(system.output.some((line) => /^catalog#2\s+\| /.test(line)), 'replica 2 logs under its own name');
    for (const instance of catalog) {
      const ready = await request(`${instance.url}/readyz`);
      assert.equal(ready.statusCode, 200, await ready.body.text());
    }
  });

  it('registers both replicas, with their replica number, and every other service', async () => {
    const listed = await registry.list('catalog');
    assert.deepEqual(
      listed.map((i) => [i.url, i.pid, i.metadata['replica'], i.status]).sort(),
      runtime.instances.catalog.map((i) => [i.url, i.pid, String(i.replica), 'up']).sort(),
    );
    const services = new Set((await registry.list()).map((i) => i.service));
    for (const service of Object.keys(runtime.services)) assert.ok(services.has(service), `${service} is registered`);
  });

  it('a replica that stops leaves the registry at once and is restarted under its own name', async () => {
    const second = (await registry.list('catalog')).find((i) => i.metadata['replica'] === '2')!;
    process.kill(second.pid, 'SIGTERM');
    // Gone well before its TTL would have expired it: it deregistered while draining.
    await eventually(async () => ((await registry.list('catalog')).some((i) => i.id === second.id) ? undefined : true), 'replica 2 to deregister', 3_000);
    const back: ServiceInstance = await eventually(
      async () => (await registry.list('catalog')).find((i) => i.metadata['replica'] === '2' && i.id !== second.id),
      'replica 2 to come back',
      30_000,
      200,
    );
    assert.equal(back.url, second.url, 'on the same port');
    assert.notEqual(back.pid, second.pid);
    assert.ok(system.output.some((line) => line.includes('catalog#2 exited')));
    await eventually(() => (system.output.some((line) => line.includes('catalog#2 is back')) ? true : undefined), 'the launcher to say replica 2 is back', 5_000);
    await eventually(async () => ((await readRuntimeFile(stateDir))?.instances.catalog[1]?.pid === back.pid ? true : undefined), 'runtime.json to have the new pid', 5_000);
  });
});
