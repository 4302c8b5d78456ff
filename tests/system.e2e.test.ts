/**
 * The system as a user runs it: `npm start`'s launcher with embedded PostgreSQL
 * in a fresh state folder, every service its own process, everything through the
 * gateway. Then Ctrl-C (SIGTERM), no orphan left, and a second start that finds
 * the data where it was left.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isProcessAlive as alive } from '@bazaar/runtime/processes';
import { freePort } from '@bazaar/runtime/ports';
import { createDatabaseIfMissing, databaseUrl } from '@bazaar/chassis';
import { dropDatabase, testServerUrl } from '@bazaar/runtime/testing/databases';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { gatewayRequest, startSystem, stopSystem, type Answer, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { request } from 'undici';


let system: RunningSystem;
let stateDir: string;
let port: number;

async function api(path: string, options: Parameters<typeof gatewayRequest>[2] = {}): Promise<Answer> {
  return gatewayRequest(system.gateway, path, options);
}

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-'));
  port = await freePort();
  // With the local trace console, as `npm start` runs by default (the launcher helper turns it off).
  system = await startSystem(stateDir, port, { env: { BAZAAR_TRACE_CONSOLE: 'on' } });
});

after(async () => {
  if (system) await stopSystem(system);
  await rm(stateDir, { recursive: true, force: true });
});

const password = 'correct horse battery staple';
const email = `Shopper.${Date.now()}@Example.com`;
let adminToken = '';
let customer = { accessToken: '', refreshToken: '' };

describe('a user of the running system', () => {
  it('prints the generated admin login once, and it works', async () => {
    const line = system.output.find((l) => l.includes('admin login'));
    const match = /admin login\s+(\S+) \/ (\S+)/.exec(line ?? '');
    assert.ok(match, `summary shows the admin login: ${line}`);
    const login = await api('/api/identity/login', { method: 'POST', json: { email: match[1], password: match[2] } });
    assert.equal(login.status, 200, login.text);
    adminToken = login.body.accessToken;
  });

  it('registers, logs in, refreshes and reads their profile', async () => {
    const registered = await api('/api/identity/register', { method: 'POST', json: { email, password, name: 'Sam Shopper' } });
    assert.equal(registered.status, 201, registered.text);
    assert.equal(registered.body.email, email.toLowerCase());
    const duplicate = await api('/api/identity/register', { method: 'POST', json: { email: email.toUpperCase(), password, name: 'Again' } });
    assert.equal(duplicate.status, 409);

    const login = await api('/api/identity/login', { method: 'POST', json: { email, password } });
    assert.equal(login.status, 200);
    assert.equal(login.body.tokenType, 'Bearer');
    customer = login.body;

    const refreshed = await api('/api/identity/refresh', { method: 'POST', json: { refreshToken: customer.refreshToken } });
    assert.equal(refreshed.status, 200);
    assert.notEqual(refreshed.body.refreshToken, customer.refreshToken);
    customer = refreshed.body;

    const me = await api('/api/identity/me', { token: customer.accessToken });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, email.toLowerCase());
    assert.ok(Array.isArray(me.body.addresses));
  });

  it('browses and searches the demo catalog', async () => {
    const page = await api('/api/catalog/products?pageSize=5');
    assert.equal(page.status, 200);
    assert.ok(page.body.total >= 50);
    assert.equal(page.body.items.length, 5);
    const found = await api('/api/catalog/products?q=coffee%20grinder');
    assert.equal(found.body.items[0].name, 'Burr Coffee Grinder');
    const categories = await api('/api/catalog/categories');
    assert.ok(categories.body.items.length >= 5);
  });

  it('lets the admin change stock, and not a customer', async () => {
    const product = (await api('/api/catalog/products?q=kite')).body.items[0];
    const added = await api(`/api/catalog/products/${product.id}/stock-adjustments`, { method: 'POST', token: adminToken, json: { delta: 7, reason: 'delivery' } });
    assert.equal(added.status, 200, added.text);
    assert.equal(added.body.onHand, product.onHand + 7);
    const forbidden = await api(`/api/catalog/products/${product.id}/stock-adjustments`, { method: 'POST', token: customer.accessToken, json: { delta: 7, reason: 'me' } });
    assert.equal(forbidden.status, 403);
    const negative = await api(`/api/catalog/products/${product.id}/stock-adjustments`, { method: 'POST', token: adminToken, json: { delta: -1_000_000, reason: 'oops' } });
    assert.equal(negative.status, 409);
    assert.equal(negative.body.code, 'INSUFFICIENT_STOCK');
  });

  it('shows each request’s trace in the local trace console: the gateway’s span, and the service’s under it', async () => {
    const traces = (await readRuntimeFile(stateDir))?.traces;
    assert.ok(traces, 'runtime.json names the trace console');
    assert.ok(system.output.some((line) => line.includes(`traces          ${traces}`)), 'the summary prints where it is');
    const getJson = async (path: string) => {
      const answer = await request(`${traces}${path}`);
      assert.equal(answer.statusCode, 200, path);
      return (await answer.body.json()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the console's own JSON, checked below
    };
    const summary = await eventually(
      async () => ((await getJson('/api/traces?service=identity&limit=500')).items as Array<{ traceId: string; rootService: string; services: string[]; name: string; path?: string }>).find((t) => t.rootService === 'gateway' && t.services.includes('identity') && t.path === '/api/identity/login'),
      'a login’s trace from the gateway to identity',
      15_000,
      250,
    );
    const { spans } = await getJson(`/api/traces/${summary.traceId}`);
    const gateway = spans.find((span: { service: string; kind: string }) => span.service === 'gateway' && span.kind === 'SERVER');
    const identity = spans.find((span: { service: string; kind: string }) => span.service === 'identity' && span.kind === 'SERVER');
    assert.ok(gateway && identity, JSON.stringify(spans.map((s: { service: string; kind: string; name: string }) => [s.service, s.kind, s.name])));
    assert.equal(summary.name, 'POST /api/identity/*', 'the gateway names its span by the service’s prefix');
    assert.equal(identity.name, 'POST /api/identity/login', 'the service names its span by its route');
    assert.equal(identity.attributes['http.route'], '/api/identity/login');
    const ids = new Set(spans.filter((s: { service: string }) => s.service === 'gateway').map((s: { spanId: string }) => s.spanId));
    assert.ok(ids.has(identity.parentSpanId), 'identity’s span hangs under one of the gateway’s');
    const page = await request(`${traces}/`);
    assert.equal(page.statusCode, 200);
    assert.match(await page.body.text(), /Bazaar traces/);
  });

  it('answers bad input with problem+json and a stable code, never a 500 or a stack trace', async () => {
    const [header, payload] = customer.accessToken.split('.');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    const cases: Array<[string, Promise<Answer>, number, string]> = [
      ['malformed JSON', api('/api/identity/register', { method: 'POST', body: '{"email": ', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_BODY'],
      ['unknown field', api('/api/identity/register', { method: 'POST', json: { email: 'x@example.com', password, name: 'X', roles: ['admin'] } }), 400, 'VALIDATION_FAILED'],
      ['oversized body', api('/api/identity/register', { method: 'POST', json: { email: 'x@example.com', password, name: 'x'.repeat(2_000_000) } }), 413, 'PAYLOAD_TOO_LARGE'],
      ['wrong content type', api('/api/identity/login', { method: 'POST', body: 'email=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['unknown route', api('/api/nothing-here'), 404, 'ROUTE_NOT_FOUND'],
      ['unknown service route', api('/api/catalog/nothing-here'), 404, 'ROUTE_NOT_FOUND'],
      ['method the path lacks', api('/api/catalog/categories', { method: 'DELETE', token: adminToken }), 405, 'METHOD_NOT_ALLOWED'],
      ['TRACE', api('/api/identity/me', { method: 'TRACE' }), 405, 'METHOD_NOT_ALLOWED'],
      ['missing token', api('/api/identity/me'), 401, 'UNAUTHENTICATED'],
      ['forged token', api('/api/identity/me', { token: `${header}.${payload}.${'A'.repeat(86)}` }), 401, 'UNAUTHENTICATED'],
      ['alg none', api('/api/identity/me', { headers: { authorization: `Bearer ${none}` } }), 401, 'UNAUTHENTICATED'],
      ['garbage token', api('/api/identity/me', { headers: { authorization: 'Bearer not-a-jwt' } }), 401, 'UNAUTHENTICATED'],
      ['customer on admin route', api('/api/catalog/products', { method: 'POST', token: customer.accessToken, json: { sku: 'X-1', name: 'x', price: { amount: 1, currency: 'EUR' }, category: 'books' } }), 403, 'FORBIDDEN'],
      ['bad query', api('/api/catalog/products?pageSize=-1'), 400, 'VALIDATION_FAILED'],
    ];
    for (const [label, pending, status, code] of cases) {
      const answer = await pending;
      assert.equal(answer.status, status, `${label}: ${answer.text.slice(0, 300)}`);
      assert.match(String(answer.headers['content-type']), /^application\/problem\+json/, label);
      assert.equal(answer.body.code, code, label);
      assert.ok(answer.headers['x-request-id'], `${label}: correlation id`);
      assert.doesNotMatch(answer.text, /\bat \S+ \(|node_modules|\.ts:\d+/, `${label}: no stack trace`);
      if (label === 'method the path lacks') assert.equal(answer.headers['allow'], 'GET, HEAD, POST', `${label}: Allow lists the path's methods`);
    }
  });

  it('reports every service ready through the gateway', async () => {
    const ready = await api('/readyz');
    assert.equal(ready.status, 200, ready.text);
    const docs = await api('/docs/json');
    assert.ok(Object.keys(docs.body.paths).some((p) => p.startsWith('/api/identity/')));
    assert.ok(Object.keys(docs.body.paths).some((p) => p.startsWith('/api/catalog/')));
  });

  it('restarts a crashed service', async () => {
    const catalogLine = system.output.find((l) => /^\s+catalog\s/.test(l))!;
    const pid = Number(/\(pid (\d+)/.exec(catalogLine)![1]);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await api('/api/catalog/categories')).status;
      if (status === 200 && !alive(pid)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 200);
    assert.ok(system.output.some((l) => l.includes('catalog exited')), 'the launcher reports the crash');
  });

  it('never writes a password or token into the logs', () => {
    const logs = system.output.join('\n');
    assert.ok(!logs.includes(password), 'user password in logs');
    assert.ok(!logs.includes(customer.refreshToken), 'refresh token in logs');
    assert.ok(!logs.includes(customer.accessToken), 'access token in logs');
    assert.ok(logs.includes('"level"') || logs.includes('INFO'), 'services did log');
  });

  it('stops cleanly on SIGTERM, leaving no process behind, and keeps the data for the next start', async () => {
    const code = await stopSystem(system);
    assert.equal(code, 0);
    await new Promise((r) => setTimeout(r, 500));
    for (const pid of system.pids) assert.ok(!alive(pid), `process ${pid} outlived the launcher`);
    assert.ok(!existsSync(join(stateDir, 'postgres', 'postmaster.pid')), 'PostgreSQL stopped');

    system = await startSystem(stateDir, port);
    assert.ok(!system.output.some((l) => l.includes('admin login') && l.includes(' / ')), 'the admin password is shown only once');
    const login = await api('/api/identity/login', { method: 'POST', json: { email, password } });
    assert.equal(login.status, 200, 'the user registered before the restart can log in');
    const kite = (await api('/api/catalog/products?q=kite')).body;
    assert.equal(kite.total, 1, 'the demo catalog is not seeded twice');
  });

  it('starts over with --reset: a new admin, no old accounts', async () => {
    assert.equal(await stopSystem(system), 0);
    system = await startSystem(stateDir, port, { args: ['--reset'] });
    assert.ok(system.output.some((l) => l.includes('--reset: removing')));
    assert.ok(system.output.some((l) => /admin login\s+\S+ \/ \S+/.test(l)), 'a fresh admin password is generated and shown');
    const login = await api('/api/identity/login', { method: 'POST', json: { email, password } });
    assert.equal(login.status, 401, 'the account from before the reset is gone');
  });

  it('runs on external PostgreSQL databases given one URL per service, without the embedded one', async () => {
    assert.equal(await stopSystem(system), 0);
    const server = testServerUrl();
    const names = { identity: `e2e_identity_${process.pid}`, catalog: `e2e_catalog_${process.pid}`, notifications: `e2e_notifications_${process.pid}`, orders: `e2e_orders_${process.pid}`, payments: `e2e_payments_${process.pid}`, shipping: `e2e_shipping_${process.pid}`, broker: `e2e_broker_${process.pid}` };
    for (const name of Object.values(names)) await createDatabaseIfMissing(server, name);
    try {
      system = await startSystem(stateDir, port, {
        env: {
          IDENTITY_DATABASE_URL: databaseUrl(server, names.identity),
          CATALOG_DATABASE_URL: databaseUrl(server, names.catalog),
          NOTIFICATIONS_DATABASE_URL: databaseUrl(server, names.notifications),
          ORDERS_DATABASE_URL: databaseUrl(server, names.orders),
          PAYMENTS_DATABASE_URL: databaseUrl(server, names.payments),
          SHIPPING_DATABASE_URL: databaseUrl(server, names.shipping),
          BROKER_URL: databaseUrl(server, names.broker),
        },
      });
      assert.ok(system.output.some((l) => l.includes('using the database URLs from the environment')));
      assert.ok(!system.output.some((l) => l.includes('starting embedded PostgreSQL')));
      const registered = await api('/api/identity/register', { method: 'POST', json: { email, password, name: 'External' } });
      assert.equal(registered.status, 201);
      assert.ok((await api('/api/catalog/products')).body.total >= 50, 'the external catalog database was migrated and seeded');
      assert.equal(await stopSystem(system), 0);
    } finally {
      for (const name of Object.values(names)) await dropDatabase(server, name);
    }
  });
});
