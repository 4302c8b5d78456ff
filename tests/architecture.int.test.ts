/**
 * The topology (packages/topology) is the source of truth; these tests fail when
 * the code drifts from it: a service folder the topology does not know, a route
 * outside a service's declared prefixes, a call to an undeclared dependency, a
 * service importing another service's code.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createService, loadConfig } from '@bazaar/chassis';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { serviceNames, serviceUrlVariable, topology } from '@bazaar/topology';
import { serviceModule } from './fixtures/service-modules.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

describe('topology and code agree', () => {
  it('every service folder is in the topology, and every topology service has a folder', async () => {
    const folders = (await readdir(join(root, 'services'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    assert.deepEqual(folders, [...serviceNames].sort());
  });

  it('each service declares a URL variable for exactly the services it depends on', async () => {
    for (const name of serviceNames) {
      const module = await serviceModule(name);
      // Variables naming a service (`CATALOG_URL`); other URLs (`SMTP_URL`) are not calls to our services.
      const serviceVariables = new Set(serviceNames.map(serviceUrlVariable));
      const urlVariables = Object.keys(module.configSchema.properties).filter((key) => serviceVariables.has(key));
      const expected = topology[name].dependsOn.map(serviceUrlVariable).sort();
      assert.deepEqual([...new Set(urlVariables)].sort(), expected, `${name}: config URLs vs topology dependsOn`);
    }
  });

  it('a service with a database has migrations, a stateless one has none', async () => {
    const names = new Set<string>();
    for (const name of serviceNames) {
      const module = await serviceModule(name);
      const database = topology[name].database;
      assert.equal(Boolean(module.migrations), database !== null, `${name}: migrations vs topology database`);
      if (database) {
        assert.ok(!names.has(database), `database ${database} is owned by one service only`);
        names.add(database);
      }
    }
  });

  it('no service imports another service or reads another database', async () => {
    for (const name of serviceNames) {
      for (const file of await sourceFiles(join(root, 'services', name))) {
        const text = await readFile(file, 'utf8');
        for (const other of serviceNames.filter((n) => n !== name)) {
          assert.doesNotMatch(text, new RegExp(`from ['"](@bazaar/${other}|(\\.\\./)+${other}/)`), `${file} imports ${other}`);
          const otherDatabase = topology[other].database;
          if (otherDatabase) assert.ok(!text.includes(otherDatabase), `${file} names ${other}'s database ${otherDatabase}`);
        }
      }
      const manifest = JSON.parse(await readFile(join(root, 'services', name, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
      const dependencies = Object.keys({ ...manifest['dependencies'], ...manifest['devDependencies'] });
      for (const other of serviceNames.filter((n) => n !== name)) assert.ok(!dependencies.includes(`@bazaar/${other}`), `${name} depends on @bazaar/${other}`);
    }
  });

  it("every route a service registers lies under one of its declared prefixes", async () => {
    const chassisRoutes = /^\/(healthz|readyz|metrics|docs)(\/|$)|^\/$|^\*$/;
    for (const name of serviceNames.filter((n) => topology[n].routes.length > 0)) {
      const module = await serviceModule(name);
      const env: Record<string, string> = { SERVICE_NAME: name, PORT: '0' };
      for (const dependency of topology[name].dependsOn) env[serviceUrlVariable(dependency)] = 'http://127.0.0.1:9';
      const { db, drop } = await freshDatabase(`arch_${name}`, module.migrations);
      const urls: string[] = [];
      const { app } = await createService(
        {
          ...module,
          routes: async (instance, context) => {
            instance.addHook('onRoute', (route) => void urls.push(route.url));
            await module.routes(instance, context);
          },
        },
        loadConfig(module.configSchema, env) as never,
        { db, logger: false },
      );
      cleanups.push(async () => {
        await app.close();
        await drop();
      });
      const own = urls.filter((url) => !chassisRoutes.test(url));
      assert.ok(own.length > 0, `${name} registers routes`);
      for (const url of own) {
        assert.ok(
          topology[name].routes.some((prefix) => url === prefix || url.startsWith(`${prefix}/`)),
          `${name} registers ${url}, outside its declared prefixes ${topology[name].routes.join(', ')}`,
        );
      }
    }
  });
});
