import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import type { InjectOptions } from 'fastify';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { testTokens } from '@bazaar/runtime/testing/tokens';
import { AppError, Database, Type, createService, extendConfig, loadConfig, type ServiceApp, type ServiceModule } from './index.ts';

const Config = extendConfig({});
let release: () => void = () => {};

const module: ServiceModule<typeof Config> = {
  name: 'probe',
  title: 'Probe',
  description: 'A service made only of chassis',
  configSchema: Config,
  async routes(app, context) {
    app.get('/api/probe/rows', async () => (await context.db!.query<{ one: number }>('SELECT 1 AS one')).rows);
    app.get('/api/probe/stuck', async () =>
      context.db!.transaction(async (tx) => {
        await tx.query('SET LOCAL statement_timeout = 50');
        await tx.query('SELECT pg_sleep(1)');
      }),
    );
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
    app.get('/api/probe/admin', { onRequest: app.requireRole('admin') }, async () => ({ ok: true }));
    app.get('/api/probe/mine', { onRequest: [app.authenticate] }, async () => ({ ok: true }));
    app.get('/api/probe/maybe-mine', { onRequest: app.identify }, async () => ({ ok: true }));
    app.post(
      '/api/probe/admin/items',
      { onRequest: app.requireRole('admin'), schema: { body: Type.Object({ count: Type.Integer() }, { additionalProperties: false }), params: Type.Object({}) } },
      async (req) => req.body,
    );
    app.post('/api/probe/notes', { schema: { body: Type.Object({ text: Type.String(), tags: Type.Array(Type.String()) }, { additionalProperties: false }) } }, async (req) => req.body);
    app.post('/api/probe/weighings', { schema: { body: Type.Object({ grams: Type.Number() }, { additionalProperties: false }) } }, async (req) => req.body);
    app.get('/api/probe/items/:id', { schema: { params: Type.Object({ id: Type.String({ maxLength: 300 }) }) } }, async (req) => ({ id: req.params.id }));
    // A route that finds nothing under its path hands the request to the not-found handler (as @fastify/static does).
    app.get('/api/probe/files/*', async (_req, reply) => reply.callNotFound());
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

describe('a service whose database fails', () => {
  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, not a 500, when its database is unreachable or too slow', async () => {
    const unreachable = new Database({ connectionString: 'postgres://probe@127.0.0.1:1/nowhere', applicationName: 'probe' });
    const { app: cut } = await createService(module, loadConfig(Config, { SERVICE_NAME: 'probe', PORT: '0' }), { db: unreachable, logger: false });
    try {
      for (const [target, url] of [[cut, '/api/probe/rows'], [app, '/api/probe/stuck']] as const) {
        const res = await target.inject({ url });
        assert.equal(res.statusCode, 503, `${url}: ${res.body}`);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) >= 1, url);
        assert.doesNotMatch(res.body, /ECONNREFUSED|127\.0\.0\.1|statement timeout|canceling/, `${url}: no internals`);
      }
    } finally {
      await cut.close();
      await unreachable.close();
    }
    assert.deepEqual((await app.inject({ url: '/api/probe/rows' })).json(), [{ one: 1 }], 'a reachable database answers as usual');
  });
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
      [{ method: 'DELETE', url: '/api/probe/search' }, 405, 'METHOD_NOT_ALLOWED'],
      [{ url: '/api/probe/conflict' }, 409, 'SKU_TAKEN'],
      [{ url: '/api/probe/boom' }, 500, 'INTERNAL_ERROR'],
      [{ url: '/api/probe/admin' }, 401, 'UNAUTHENTICATED'],
      // Refused by Fastify's router before any route or hook runs (its own JSON before).
      [{ url: '/api/probe/items/%zz' }, 400, 'VALIDATION_FAILED'],
      [{ url: '/api/probe/items/%E0%A4%A' }, 400, 'VALIDATION_FAILED'],
      [{ url: `/api/probe/items/${'a'.repeat(257)}` }, 414, 'URI_TOO_LONG'],
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
      assert.ok(res.headers['x-request-id'], `${code}: a correlation id`);
      assert.ok(res.body.length < 1_000, `${code}: the path is not echoed back whole`);
    }
    assert.deepEqual((await app.inject({ url: `/api/probe/items/${'a'.repeat(256)}` })).json(), { id: 'a'.repeat(256) }, 'the longest segment allowed');
  });

  it('tells a path it lacks (404) from a method the path lacks (405 with Allow, RFC 9110)', async () => {
    const cases: Array<[InjectOptions & { url: string }, string]> = [
      [{ method: 'DELETE', url: '/api/probe/search?page=2' }, 'GET, HEAD'],
      [{ method: 'PUT', url: '/api/probe/items/42' }, 'GET, HEAD'],
      [{ method: 'PATCH', url: '/api/probe/items/42/' }, 'GET, HEAD'],
      [{ method: 'GET', url: '/api/probe/notes' }, 'POST'],
      [{ method: 'TRACE', url: '/api/probe/notes' }, 'POST'],
    ];
    for (const [options, allow] of cases) {
      const res = await app.inject(options);
      assert.equal(res.statusCode, 405, `${options.method} ${options.url}: ${res.body}`);
      assert.equal(res.headers['allow'], allow, `${options.method} ${options.url}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'METHOD_NOT_ALLOWED');
      assert.equal(res.json().detail, `${options.url.split('?')[0]} answers ${allow}, not ${options.method}`);
    }
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await app.inject({ method, url: '/api/probe/files/missing.txt' });
      assert.equal(res.statusCode, 404, `${method}: a route of the path that found nothing answers 404, not 405 naming its own method`);
      assert.equal(res.headers['allow'], undefined);
      if (method === 'GET') assert.equal(res.json().code, 'ROUTE_NOT_FOUND');
    }
    for (const url of ['/api/probe/nowhere', '/api/probe/items/42/more', '/api/probe']) {
      const res = await app.inject({ method: 'DELETE', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.headers['allow'], undefined);
      assert.equal(res.json().code, 'ROUTE_NOT_FOUND');
    }
  });

  it('answers a path it lacks with 404 and a method a path lacks with 405 before it reads the body: garbage there is not a 400 or a 415', async () => {
    const garbage = [
      { 'content-type': 'application/json', payload: '{"half": ' },
      { 'content-type': 'text/plain', payload: 'hello' },
      { 'content-type': 'application/json', payload: 'x'.repeat(2_000_000) },
    ];
    for (const { payload, ...headers } of garbage) {
      const lacking = await app.inject({ method: 'POST', url: '/api/probe/nowhere', headers, payload });
      assert.equal(lacking.statusCode, 404, `${headers['content-type']}: ${lacking.body.slice(0, 200)}`);
      assert.equal(lacking.json().code, 'ROUTE_NOT_FOUND');
      assert.ok(lacking.headers['x-request-id'], 'the correlation id is echoed');
      const wrongMethod = await app.inject({ method: 'PUT', url: '/api/probe/notes', headers, payload });
      assert.equal(wrongMethod.statusCode, 405, `${headers['content-type']}: ${wrongMethod.body.slice(0, 200)}`);
      assert.equal(wrongMethod.headers['allow'], 'POST');
    }
  });

  it('refuses the NUL character, which PostgreSQL cannot store, in every part of a request, naming where', async () => {
    const cases: Array<[InjectOptions, string]> = [
      [{ url: '/api/probe/items/a%00b' }, 'params/id'],
      [{ url: '/api/probe/search?page=1&q=%00' }, 'querystring/q'],
      [{ method: 'POST', url: '/api/probe/notes', payload: { text: 'fine', tags: ['ok', 'bad\u0000'] } }, 'body/tags/1'],
    ];
    for (const [options, path] of cases) {
      const res = await app.inject(options);
      assert.equal(res.statusCode, 400, `${path}: ${res.body}`);
      assert.equal(res.json().code, 'VALIDATION_FAILED');
      assert.deepEqual(res.json().errors, [{ path, message: 'must not contain the NUL character' }]);
    }
    assert.deepEqual((await app.inject({ method: 'POST', url: '/api/probe/notes', payload: { text: 'tab\tand \u0001 pass', tags: [] } })).json(), { text: 'tab\tand \u0001 pass', tags: [] });
  });

  it('refuses a number in a query that coerces to Infinity, which the validator alone lets through', async () => {
    for (const page of ['1e309', '-1e309', 'Infinity']) {
      const res = await app.inject({ url: `/api/probe/search?page=${page}` });
      assert.equal(res.statusCode, 400, `${page}: ${res.body}`);
      assert.deepEqual(res.json().errors, [{ path: 'querystring/page', message: 'must be a finite number' }]);
    }
    assert.deepEqual((await app.inject({ url: '/api/probe/search?page=1e2' })).json(), { page: 100 });
  });

  it('refuses a number in a JSON body beyond a double (JSON.parse reads it as Infinity): the body validator, which does not coerce, checks numbers are finite itself', async () => {
    for (const grams of ['1e309', '-1e309']) {
      const res = await app.inject({ method: 'POST', url: '/api/probe/weighings', headers: { 'content-type': 'application/json' }, payload: `{"grams":${grams}}` });
      assert.equal(res.statusCode, 400, `${grams}: ${res.body}`);
      assert.deepEqual(res.json().errors, [{ path: 'body/grams', message: 'must be number' }]);
    }
    const fine = await app.inject({ method: 'POST', url: '/api/probe/weighings', headers: { 'content-type': 'application/json' }, payload: '{"grams":1e308}' });
    assert.deepEqual(fine.json(), { grams: 1e308 });
  });

  it('answers what Node refuses before there is a request as problem+json, and closes the connection', async () => {
    const base = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(base.port), base.hostname, () => socket.end(request));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    const cases: Array<[string, string, number, string]> = [
      ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['a broken chunked body', 'POST /api/probe/items HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 400, 'MALFORMED_REQUEST'],
    ];
    for (const [label, request, status, code] of cases) {
      const answer = await raw(request);
      const [head, body] = answer.split('\r\n\r\n');
      assert.match(head!, new RegExp(`^HTTP/1.1 ${status} `), `${label}: ${answer.slice(0, 200)}`);
      assert.match(head!, /content-type: application\/problem\+json/i, label);
      assert.match(head!, /connection: close/i, label);
      assert.equal(JSON.parse(body!).code, code, label);
    }
  });

  it('asks who is calling before it reads what they sent: 401 or 403, never 400 or 415, for a body a caller may not send', async () => {
    const admin = { authorization: `Bearer ${await tokens.issue({ roles: ['admin'] })}` };
    const customer = { authorization: `Bearer ${await tokens.issue()}` };
    const garbage: Array<{ headers: Record<string, string>; payload: string }> = [
      { headers: { 'content-type': 'application/json' }, payload: '{"count": ' },
      { headers: { 'content-type': 'application/json' }, payload: '{"count": "many", "role": "admin"}' },
      { headers: { 'content-type': 'text/plain' }, payload: 'count=1' },
    ];
    for (const { headers, payload } of garbage) {
      const anonymous = await app.inject({ method: 'POST', url: '/api/probe/admin/items', headers, payload });
      assert.equal(anonymous.statusCode, 401, `anonymous, ${payload}: ${anonymous.body}`);
      assert.equal(anonymous.json().code, 'UNAUTHENTICATED');
      const refused = await app.inject({ method: 'POST', url: '/api/probe/admin/items', headers: { ...headers, ...customer }, payload });
      assert.equal(refused.statusCode, 403, `customer, ${payload}: ${refused.body}`);
      const read = await app.inject({ method: 'POST', url: '/api/probe/admin/items', headers: { ...headers, ...admin }, payload });
      assert.ok(read.statusCode === 400 || read.statusCode === 415, `admin, ${payload}: ${read.statusCode} ${read.body}`);
    }
    const placed = await app.inject({ method: 'POST', url: '/api/probe/admin/items', headers: admin, payload: { count: 2 } });
    assert.deepEqual(placed.json(), { count: 2 });
  });

  it('will not take a route that checks the token after the body is read', async () => {
    const late = (await import('fastify')).default();
    const { installAuthentication } = await import('./auth.ts');
    installAuthentication(late, tokens.verifier);
    for (const hook of ['preValidation', 'preHandler'] as const) {
      assert.throws(
        () => late.post(`/late/${hook}`, { [hook]: [late.requireRole('admin')] }, async () => ({})),
        /onRequest/,
        hook,
      );
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
    // The document says which routes take a token, from the pre-handlers they use.
    assert.deepEqual(docs.paths['/api/probe/admin'].get.security, [{ bearer: [] }]);
    assert.deepEqual(docs.paths['/api/probe/mine'].get.security, [{ bearer: [] }]);
    assert.deepEqual(docs.paths['/api/probe/maybe-mine'].get.security, [{}, { bearer: [] }]);
    assert.equal(docs.paths['/api/probe/items'].post.security, undefined);
    // A query parameter with a default is one a client may leave out.
    const page = docs.paths['/api/probe/search'].get.parameters.find((parameter: { name: string }) => parameter.name === 'page');
    assert.equal(page.required, false);
    assert.equal(page.schema.default, 1);
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
