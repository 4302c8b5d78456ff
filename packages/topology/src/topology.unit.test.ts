import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routeTable, serviceForPath, serviceNames, startOrder, topology } from './index.ts';

describe('topology', () => {
  it('routes a path to the service owning its longest matching prefix', () => {
    assert.equal(serviceForPath('/api/catalog/products'), 'catalog');
    assert.equal(serviceForPath('/api/catalog'), 'catalog');
    assert.equal(serviceForPath('/api/identity/login?x=1'), 'identity');
    assert.equal(serviceForPath('/api/catalogue'), undefined, 'a prefix matches whole segments only');
    assert.equal(serviceForPath('/elsewhere'), undefined);
    const custom = [
      { prefix: '/api/a', service: 'identity' as const },
      { prefix: '/api/a/b', service: 'catalog' as const },
    ].sort((x, y) => y.prefix.length - x.prefix.length);
    assert.equal(serviceForPath('/api/a/b/c', custom), 'catalog');
    assert.equal(serviceForPath('/api/a/c', custom), 'identity');
  });

  it('starts every service after the services it depends on', () => {
    const order = startOrder();
    assert.deepEqual([...order].sort(), [...serviceNames].sort());
    for (const name of order) {
      for (const dependency of topology[name].dependsOn) assert.ok(order.indexOf(dependency) < order.indexOf(name), `${dependency} before ${name}`);
    }
  });

  it('gives every service its own port and database', () => {
    const ports = serviceNames.map((n) => topology[n].port);
    assert.equal(new Set(ports).size, ports.length);
    const databases = serviceNames.map((n) => topology[n].database).filter(Boolean);
    assert.equal(new Set(databases).size, databases.length);
    const prefixes = routeTable().map((r) => r.prefix);
    assert.equal(new Set(prefixes).size, prefixes.length, 'no prefix is claimed twice');
  });
});
