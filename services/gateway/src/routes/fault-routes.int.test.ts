/**
 * `/api/admin/faults` over real sockets: a listening gateway with FAULT_INJECTION on,
 * in front of plain node:http servers that each run the chassis' fault injector
 * (what every service process runs), one service pointed at a closed port.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFaultInjector, createService, loadConfig, type FaultInjector, type ServiceApp } from '@bazaar/chassis';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { routedServices, serviceUrlVariable } from '@bazaar/topology';
import { request, type Dispatcher } from 'undici';
import { createGatewayService } from '../app.ts';
import { GatewayConfig } from '../config.ts';

interface Upstream {
  server: Server;
  url: string;
  injector: FaultInjector;
}

/** A stand-in service: the fault injector in front of a handler that answers 200 (and the probes and docs the gateway asks for). */
async function upstream(service: string): Promise<Upstream> {
  const injector = createFaultInjector({ enabled: true, service });
  const server = createServer((req, res) =>
    injector.around(req, res, () => {
      const body = req.url === '/docs/json' ? JSON.stringify({ openapi: '3.1.0', paths: {} }) : JSON.stringify({ ok: true, service });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, injector };
}

/** A port nothing listens on: an instance that cannot be reached. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const UNREACHABLE = 'shipping';
const upstreams = new Map<string, Upstream>();
const gateways: ServiceApp[] = [];
let gatewayUrl: string;
let withoutFaultsUrl: string;
let tokens: TestTokens;
let admin: string;
let customer: string;

async function startGateway(faultInjection: boolean, env: Record<string, string>): Promise<string> {
  const config = loadConfig(GatewayConfig, { ...env, SERVICE_NAME: 'gateway', PORT: '0', FAULT_INJECTION: String(faultInjection), UPSTREAM_TIMEOUT_MS: '1000', RATE_LIMIT_PER_MINUTE: '100000' });
  const { app } = await createService({ ...createGatewayService(), accessTokens: () => tokens.verifier }, config, { logger: false });
  gateways.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, path: string, options: { token?: string; body?: unknown; raw?: string; base?: string } = {}): Promise<{ status: number; type: string; json: any }> {
  const headers: Record<string, string> = {};
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined || options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.raw ?? JSON.stringify(options.body);
  }
  const response = await request(`${options.base ?? gatewayUrl}${path}`, { method: method as Dispatcher.HttpMethod, headers, body });
  const text = await response.body.text();
  return { status: response.statusCode, type: String(response.headers['content-type']), json: text ? JSON.parse(text) : undefined };
}

before(async () => {
  tokens = await testTokens();
  admin = await tokens.issue({ roles: ['admin'], email: 'admin@example.com' });
  customer = await tokens.issue({ roles: ['customer'] });
  const env: Record<string, string> = {};
  for (const service of routedServices) {
    if (service === UNREACHABLE) {
      env[serviceUrlVariable(service)] = await closedPortUrl();
      continue;
    }
    const started = await upstream(service);
    upstreams.set(service, started);
    env[serviceUrlVariable(service)] = started.url;
  }
  gatewayUrl = await startGateway(true, env);
  withoutFaultsUrl = await startGateway(false, env);
});

after(async () => {
  for (const app of gateways) await app.close();
  for (const { server, injector } of upstreams.values()) {
    injector.clear();
    server.closeAllConnections();
    server.close();
  }
});

describe('/api/admin/faults', () => {
  it('breaks every instance of a service for a while, shows it with its counters, and ends it', async () => {
    const set = await call('PUT', '/api/admin/faults/catalog', { token: admin, body: { errorRate: 1, errorStatus: 500, pathPrefix: '/api/catalog/products', forMs: 30_000 } });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    const catalog = set.json.instances;
    assert.equal(catalog.length, 1);
    assert.equal(catalog[0].service, 'catalog');
    assert.deepEqual(catalog[0].fault, { errorRate: 1, errorStatus: 500, pathPrefix: '/api/catalog/products', forMs: 30_000 });
    assert.ok(Date.parse(catalog[0].expiresAt) > Date.now() + 25_000, 'it ends by itself');
    assert.equal(upstreams.get('catalog')!.injector.status().fault?.errorRate, 1, 'the service itself holds the fault');

    const broken = await call('GET', '/api/catalog/products/one', {});
    assert.equal(broken.status, 500);
    assert.equal(broken.json.code, 'INTERNAL_ERROR');
    assert.match(broken.json.detail, /injected fault/i);
    assert.equal((await call('GET', '/api/catalog/categories', {})).status, 200, 'outside the path prefix the service answers');

    const listed = await call('GET', '/api/admin/faults', { token: admin });
    assert.equal(listed.status, 200);
    assert.ok(!listed.json.targets.includes('gateway'));
    const seen = listed.json.instances.find((instance: { service: string }) => instance.service === 'catalog');
    assert.equal(seen.fault.errorRate, 1);
    assert.ok(seen.counters.errored >= 1, `the counters show what it did: ${JSON.stringify(seen.counters)}`);
    const payments = listed.json.instances.find((instance: { service: string }) => instance.service === 'payments');
    assert.equal(payments.fault, null, 'the other services have none');

    const ended = await call('DELETE', '/api/admin/faults/catalog', { token: admin });
    assert.equal(ended.status, 200);
    assert.equal(ended.json.instances[0].fault, null);
    assert.equal(ended.json.instances[0].ended.reason, 'cleared');
    assert.equal((await call('GET', '/api/catalog/products/one', {})).status, 200);
  });

  it('ends every fault at once', async () => {
    for (const service of ['orders', 'payments']) {
      assert.equal((await call('PUT', `/api/admin/faults/${service}`, { token: admin, body: { latencyMs: 10, forMs: 60_000 } })).status, 200);
    }
    const cleared = await call('DELETE', '/api/admin/faults', { token: admin });
    assert.equal(cleared.status, 200);
    for (const service of ['orders', 'payments']) assert.equal(upstreams.get(service)!.injector.status().fault, null, `${service} is whole again`);
    const unreachable = cleared.json.instances.find((instance: { service: string }) => instance.service === UNREACHABLE);
    assert.match(unreachable.error, /cannot reach/, 'an instance that could not be told is named, not hidden');
  });

  it('names an instance it cannot reach, and answers 502 when no instance took the fault', async () => {
    const listed = await call('GET', '/api/admin/faults', { token: admin });
    const unreachable = listed.json.instances.find((instance: { service: string }) => instance.service === UNREACHABLE);
    assert.match(unreachable.error, /cannot reach http:\/\/127\.0\.0\.1:\d+/);
    const refused = await call('PUT', `/api/admin/faults/${UNREACHABLE}`, { token: admin, body: { errorRate: 0.5, forMs: 5_000 } });
    assert.equal(refused.status, 502);
    assert.equal(refused.type, 'application/problem+json; charset=utf-8');
    assert.equal(refused.json.code, 'UPSTREAM_UNAVAILABLE');
  });

  it('sets a fault on one instance by its id, and answers 404 for an id it does not know', async () => {
    const one = await call('PUT', '/api/admin/faults/identity?instance=static:identity', { token: admin, body: { resetRate: 0.1, forMs: 2_000 } });
    assert.equal(one.status, 200);
    assert.equal(one.json.instances[0].id, 'static:identity');
    const unknown = await call('PUT', '/api/admin/faults/identity?instance=identity-nowhere-1', { token: admin, body: { resetRate: 0.1, forMs: 2_000 } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'INSTANCE_NOT_FOUND');
    await call('DELETE', '/api/admin/faults/identity', { token: admin });
  });

  it('refuses a fault that is not valid, naming what is wrong, and sets nothing', async () => {
    const cases: Array<[string, string | undefined, RegExp]> = [
      ['{"errorRate":0.5}', 'VALIDATION_FAILED', /forMs/],
      ['{"errorRate":0.7,"resetRate":0.5,"forMs":5000}', 'VALIDATION_FAILED', /at most 1/],
      ['{"forMs":5000}', 'VALIDATION_FAILED', /does nothing/],
      ['{"errorStatus":500,"forMs":5000,"latencyMs":5}', 'VALIDATION_FAILED', /errorRate/],
      ['{"latencyMs":500,"forMs":5000,"admin":true}', 'VALIDATION_FAILED', /admin|additional/i],
      ['{"latencyMs":-1,"forMs":5000}', 'VALIDATION_FAILED', /latencyMs/],
      ['{"latencyMs":500,"forMs":999999999999}', 'VALIDATION_FAILED', /forMs/],
      ['{"errorRate":1,"errorStatus":418,"forMs":5000}', 'VALIDATION_FAILED', /errorStatus/],
      ['{"latencyMs":5,"pathPrefix":"no-slash","forMs":5000}', 'VALIDATION_FAILED', /pathPrefix/],
      ['[1,2]', 'VALIDATION_FAILED', /./],
      ['{"latencyMs":', 'MALFORMED_BODY', /./],
    ];
    for (const [raw, code, names] of cases) {
      const answer = await call('PUT', '/api/admin/faults/payments', { token: admin, raw });
      assert.equal(answer.status, 400, raw);
      assert.equal(answer.type, 'application/problem+json; charset=utf-8', raw);
      assert.equal(answer.json.code, code, raw);
      assert.match(JSON.stringify(answer.json), names, raw);
    }
    assert.equal(upstreams.get('payments')!.injector.status().fault, null);
    const gateway = await call('PUT', '/api/admin/faults/gateway', { token: admin, body: { latencyMs: 100, forMs: 5_000 } });
    assert.equal(gateway.status, 400, 'the gateway does not break itself from its own API');
    assert.equal(gateway.json.code, 'VALIDATION_FAILED');
    assert.equal((await call('PUT', '/api/admin/faults/nowhere', { token: admin, body: { latencyMs: 100, forMs: 5_000 } })).status, 400);
  });

  it('is for admins only', async () => {
    assert.equal((await call('GET', '/api/admin/faults', {})).status, 401);
    assert.equal((await call('PUT', '/api/admin/faults/payments', { body: { latencyMs: 100, forMs: 5_000 } })).status, 401);
    const forbidden = await call('PUT', '/api/admin/faults/payments', { token: customer, body: { latencyMs: 100, forMs: 5_000 } });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.json.code, 'FORBIDDEN');
    assert.equal((await call('DELETE', '/api/admin/faults', { token: customer })).status, 403);
    assert.equal(upstreams.get('payments')!.injector.status().fault, null);
  });

  it('does not exist where the gateway runs without FAULT_INJECTION', async () => {
    for (const [method, path] of [['GET', '/api/admin/faults'], ['PUT', '/api/admin/faults/payments'], ['DELETE', '/api/admin/faults']] as const) {
      const answer = await call(method, path, { token: admin, base: withoutFaultsUrl, ...(method === 'PUT' ? { body: { latencyMs: 100, forMs: 5_000 } } : {}) });
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(answer.json.code, 'ROUTE_NOT_FOUND');
    }
    assert.equal(upstreams.get('payments')!.injector.status().fault, null);
  });
});
