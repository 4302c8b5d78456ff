import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BaseConfig, ConfigError, loadConfig } from '../config.ts';
import { registryUrl, staticServiceUrls } from './discovery.ts';
import { instanceKey } from './nats-registry.ts';
import { advertisedUrl, instanceId, instanceStatus, parseInstanceMetadata } from './registration.ts';

describe('registration helpers', () => {
  it('parse INSTANCE_METADATA into labels', () => {
    assert.deepEqual(parseInstanceMetadata('replica=2, zone=eu-1a,empty='), { replica: '2', zone: 'eu-1a', empty: '' });
    assert.deepEqual(parseInstanceMetadata(undefined), {});
  });

  it('advertise a reachable address for a wildcard listener', () => {
    assert.equal(advertisedUrl('0.0.0.0', 4002), 'http://127.0.0.1:4002');
    assert.equal(advertisedUrl('::', 4002), 'http://127.0.0.1:4002');
    assert.equal(advertisedUrl('10.0.0.7', 80), 'http://10.0.0.7:80');
    assert.equal(advertisedUrl('::1', 4002), 'http://[::1]:4002');
    // ADVERTISE_URL wins (an address other hosts can reach, e.g. the pod's).
    assert.equal(advertisedUrl('0.0.0.0', 4002, 'http://10.1.2.3:4002/'), 'http://10.1.2.3:4002');
  });

  it('refuse an ADVERTISE_URL that is not an http(s) URL', () => {
    const base = { SERVICE_NAME: 'catalog', PORT: '4002' };
    assert.equal(loadConfig(BaseConfig, { ...base, ADVERTISE_URL: 'http://10.1.2.3:4002' }).ADVERTISE_URL, 'http://10.1.2.3:4002');
    assert.throws(() => loadConfig(BaseConfig, { ...base, ADVERTISE_URL: '10.1.2.3:4002' }), /ADVERTISE_URL/);
  });

  it('make ids unique per process and keys safe for KV', () => {
    assert.match(instanceId('catalog'), new RegExp(`^catalog-.+-${process.pid}-[0-9a-f]{6}$`));
    assert.notEqual(instanceId('catalog'), instanceId('catalog'));
    assert.equal(instanceKey('catalog-host.local-12-ab'), 'catalog-host=2elocal-12-ab');
    assert.notEqual(instanceKey('a.b'), instanceKey('a_b'));
    assert.match(instanceKey('x/y=z:é'), /^[A-Za-z0-9_=-]+$/);
  });

  it('map readiness to an instance status', () => {
    assert.equal(instanceStatus({ status: 'ready', checks: {} }), 'up');
    assert.equal(instanceStatus({ status: 'not ready', checks: { database: 'failing: x' } }), 'down');
    assert.equal(instanceStatus({ status: 'draining', checks: {} }), 'draining');
  });
});

describe('discovery configuration', () => {
  const base = { SERVICE_NAME: 'orders', PORT: '0' };

  it('defaults to the registry at BROKER_URL', () => {
    const config = loadConfig(BaseConfig, { ...base, BROKER_URL: 'nats://127.0.0.1:4222' });
    assert.equal(config.DISCOVERY, 'registry');
    assert.equal(config.HEARTBEAT_MS, 2_000);
    assert.equal(config.REGISTRY_TTL_MS, 6_000);
    assert.equal(registryUrl(config), 'nats://127.0.0.1:4222');
    assert.equal(registryUrl(loadConfig(BaseConfig, { ...base, BROKER_URL: 'nats://a:4222', REGISTRY_URL: 'postgres://b/c' })), 'postgres://b/c');
    assert.equal(registryUrl(loadConfig(BaseConfig, { ...base, BROKER_URL: 'nats://a:4222', DISCOVERY: 'static' })), undefined);
  });

  it('refuses a bad DISCOVERY or INSTANCE_METADATA, and never echoes REGISTRY_URL', () => {
    assert.throws(() => loadConfig(BaseConfig, { ...base, DISCOVERY: 'dns' }), ConfigError);
    assert.throws(() => loadConfig(BaseConfig, { ...base, INSTANCE_METADATA: 'replica' }), /INSTANCE_METADATA/);
    assert.throws(
      () => loadConfig(BaseConfig, { ...base, REGISTRY_URL: 'http://user:hunter2@host' }),
      (error: Error) => error.message.includes('REGISTRY_URL') && !error.message.includes('hunter2'),
    );
  });

  it('takes static URLs from the config, else the environment', () => {
    assert.deepEqual(staticServiceUrls({ CATALOG_URL: 'http://c:1' }, { IDENTITY_URL: 'http://i:2', CATALOG_URL: 'http://other', NOT_A_SERVICE_URL: 'x' }), {
      identity: 'http://i:2',
      catalog: 'http://c:1',
    });
  });
});
