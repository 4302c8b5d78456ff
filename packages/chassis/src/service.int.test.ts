import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import type { InjectOptions } from 'fastify';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { testTokens } from '@bazaar/runtime/testing/tokens';
import { AppError, Type, createService, extendConfig, loadConfig, type ServiceApp, type ServiceModule } from './index.ts';

const Config = extendConfig({});
let release: () => void = () => {};

const module: ServiceModule<typeof Config> = {
  name: 'probe',
  title: 'Probe',
  description: 'A service made only of chassis',
  configSchema: Config,
  async routes(app) {
    app.post(
      '/api/probe/items',
      { schema: { body: Type.Object({ count: Type.Integer() }, { additionalProperties: false }), response: { 200: Type.Object({ count: Type.Integer() }) } } },
      async (req) => ({ count: req.body.count }),
    );
    app.get('/api/probe/search', { schema: { querystring: Type.Object({ page: Type.Integer({ default: 1 }) }) } }, async (req) => ({ page: req.query.page }));
    app.get('/api/probe/boom', async () => {
      throw new Error('secret internal detail');
    });
    app.get('/api/probe/conflict', async () => {
      throw new AppError('SKU_TAKEN', 'SKU X is taken');
    });
    app.get('/api/probe/slow', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { done: true };
    });
    app.get('/api/probe/admin', { preHandler: app.requireRole('admin') }, async () => ({ ok: true }));
  },
};

let app: ServiceApp;
let drop: () => Promise<void>;
let tokens: Awaited<ReturnType<typeof testTokens>>;

before(async () => {
  const fresh = await freshDatabase('chassis');
  drop = fresh.drop;
  tokens = await testTokens();
  ({ app } = await createService({ ...module, accessTokens: () => tokens.verifier }, loadConfig(Config, { SERVICE_NAME: 'probe', PORT: '0' }), { db: fresh.db, logger: false }));
});
after(async () => {
  await app.close();
  await drop();
});

describe('the chassis around a service', () => {
  it('echoes a sane correlation id and replaces a hostile one', async () => {
    const echoed = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(echoed.headers['x-request-id'], 'abc-123');
    const hostile = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'a\u0007b'.repeat(100) } });
    assert.match(String(hostile.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('validates bodies exactly and coerces query strings', async () => {
    const ok = await app.inject({ method: 'POST', url: '/api/probe/items', payload: { count: 2 } });
    assert.deepEqual(ok.json(), { count: 2 });
    const stringly = await app.inject({ method: 'POST', url: '/api/probe/items', payload: { count: '2' } });
    assert.equal(stringly.statusCode, 400, 'a JSON body is taken as sent, not coerced');
    assert.equal(stringly.json().code, 'VALIDATION_FAILED');
    assert.equal(stringly.json().errors[0].path, 'body/count');
    const unknown = await app.inject({ method: 'POST', url: '/api/probe/items', payload: { count: 2, admin: true } });
    assert.equal(unknown.statusCode, 400, 'unknown fields are rejected, not dropped');
    assert.deepEqual((await app.inject({ url: '/api/probe/search?page=3' })).json(), { page: 3 });
  });

  it('answers every failure as problem+json with a stable code', async () => {
    const cases: Array<[InjectOptions, number, string]> = [
      [{ method: 'POST', url: '/api/probe/items', headers: { 'content-type': 'application/json' }, payload: '{"count":' }, 400, 'MALFORMED_BODY'],
      [{ method: 'POST', url: '/api/probe/items', headers: { 'content-type': 'text/plain' }, payload: 'count=1' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ method: 'POST', url: '/api/probe/items', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ count: 1, pad: 'x'.repeat(1_100_000) }) }, 413, 'PAYLOAD_TOO_LARGE'],
      [{ url: '/api/probe/nowhere' }, 404, 'ROUTE_NOT_FOUND'],
      [{ url: '/api/probe/conflict' }, 409, 'SKU_TAKEN'],
      [{ url: '/api/probe/boom' }, 500, 'INTERNAL_ERROR'],
      [{ url: '/api/probe/admin' }, 401, 'UNAUTHENTICATED'],
    ];
    for (const [options, status, code] of cases) {
      const res = await app.inject(options);
      assert.equal(res.statusCode, status, `${code}: ${res.body.slice(0, 200)}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      const body = res.json();
      assert.equal(body.code, code);
      assert.equal(body.status, status);
      assert.match(body.type, /^urn:bazaar:problem:/);
      assert.doesNotMatch(res.body, /secret internal detail|at .*\.ts:\d+/, 'no internals leak');
    }
  });

  it('separates customers from admins', async () => {
    const customer = await app.inject({ url: '/api/probe/admin', headers: { authorization: `Bearer ${await tokens.issue()}` } });
    assert.equal(customer.statusCode, 403);
    const admin = await app.inject({ url: '/api/probe/admin', headers: { authorization: `Bearer ${await tokens.issue({ roles: ['admin'] })}` } });
    assert.equal(admin.statusCode, 200);
  });

  it('publishes Prometheus metrics per route template, and an OpenAPI document', async () => {
    await app.inject({ url: '/api/probe/search?page=7' });
    const metrics = await app.inject({ url: '/metrics' });
    assert.match(metrics.body, /http_server_request_duration_seconds_count\{[^}]*route="\/api\/probe\/search"[^}]*\} \d+/);
    assert.match(metrics.body, /process_cpu_seconds_total/);
    const docs = (await app.inject({ url: '/docs/json' })).json();
    assert.ok(docs.paths['/api/probe/items'].post);
  });

  it('is ready while its database answers', async () => {
    const ready = await app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().checks.database, 'ok');
  });
});

describe('graceful shutdown', () => {
  it('flips readiness, finishes in-flight requests, takes no new ones, then closes promptly', async () => {
    const fresh = await freshDatabase('chassis_close');
    const { app: closing, context } = await createService({ ...module, accessTokens: () => tokens.verifier }, loadConfig(Config, { SERVICE_NAME: 'probe', PORT: '0' }), {
      db: fresh.db,
      logger: false,
    });
    const base = await closing.listen({ port: 0, host: '127.0.0.1' });
    // Two keep-alive connections, opened before shutdown begins, as a load balancer would hold them.
    const slowClient = new Client(base);
    const lateClient = new Client(base);
    try {
      await (await lateClient.request({ method: 'GET', path: '/healthz' })).body.dump();
      const inFlight = slowClient.request({ method: 'GET', path: '/api/probe/slow' });
      await new Promise((r) => setTimeout(r, 100));
      context.health.startDraining();
      const readiness = await closing.inject({ url: '/readyz' });
      assert.equal(readiness.statusCode, 503, 'draining flips readiness first');
      const closed = closing.close();
      await new Promise((r) => setTimeout(r, 50)); // close() runs its preClose hooks asynchronously
      // Idle keep-alive connections are closed and new ones refused: nothing new gets in.
      await assert.rejects(lateClient.request({ method: 'GET', path: '/healthz' }), /ECONNREFUSED|other side closed|SocketError/);
      release();
      const answer = await inFlight;
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.headers['connection'], 'close', 'the in-flight answer closes its connection');
      assert.deepEqual(await answer.body.json(), { done: true });
      const started = Date.now();
      await closed;
      assert.ok(Date.now() - started < 5_000, 'close does not wait out keep-alive timeouts');
    } finally {
      release();
      await closing.close();
      await Promise.all([slowClient.close(), lateClient.close()]);
      await fresh.drop();
    }
  });
});
