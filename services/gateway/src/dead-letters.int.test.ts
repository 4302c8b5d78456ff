import { consumingServices } from '@bazaar/topology';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request, type Dispatcher } from 'undici';
import { startDlqFixture, UNREACHABLE_URL, type DlqFixture } from './testing/dlq-fixture.ts';

/**
 * The fixture runs only notifications' dead-letter queue: every other consuming
 * service is unreachable and reported so; notifications is reported `state`.
 */
function servicesWith(state: 'ok' | 'unavailable'): Record<string, string> {
  return Object.fromEntries(consumingServices.map((name) => [name, name === 'notifications' ? state : 'unavailable']));
}

let fixture: DlqFixture;

interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(options: { url: string; method?: string; token?: string; headers?: Record<string, string>; json?: unknown; payload?: string; base?: string }): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  let body = options.payload;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await request((options.base ?? fixture.gatewayUrl) + options.url, { method: (options.method ?? 'GET') as Dispatcher.HttpMethod, headers, body });
  const text = await response.body.text();
  return { statusCode: response.statusCode, headers: response.headers, body: text, json: () => JSON.parse(text) };
}
const asAdmin = (options: Parameters<typeof call>[0]) => call({ token: fixture.admin.token, ...options });

before(async () => {
  fixture = await startDlqFixture('gw_dlq');
});

after(async () => {
  await fixture?.close();
});

describe('GET /api/admin/dlq', () => {
  it('lists the dead letters of every consuming service for an admin, and only for an admin', async () => {
    const { deadLetterId, envelope } = await fixture.deadLetterOne();

    const res = await asAdmin({ url: '/api/admin/dlq' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(body.services, servicesWith('ok'));
    const item = body.items.find((i: { id: string }) => i.id === deadLetterId);
    assert.ok(item, 'the dead letter is listed');
    assert.equal(item.service, 'notifications');
    assert.equal(item.messageId, envelope.id);
    assert.equal(item.messageName, 'identity.user-registered.v1');
    assert.equal(item.reason, 'HANDLER_FAILED');
    assert.match(item.error, /mail server is down/);
    assert.equal(item.attempts, 1);
    assert.ok(body.total >= 1);

    const customer = await call({ url: '/api/admin/dlq', token: fixture.customerToken });
    assert.equal(customer.statusCode, 403);
    assert.equal(customer.json().code, 'FORBIDDEN');
    assert.equal(customer.headers['content-type'], 'application/problem+json; charset=utf-8');
    const anonymous = await call({ url: '/api/admin/dlq' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().code, 'UNAUTHENTICATED');
    const forged = await call({ url: '/api/admin/dlq', token: `${fixture.admin.token.slice(0, -4)}AAAA` });
    assert.equal(forged.statusCode, 401);
  });

  it('filters by service and message name, sorts by deadAt and applies the limit', async () => {
    await fixture.deadLetterOne();
    await fixture.deadLetterOne();
    const all = (await asAdmin({ url: '/api/admin/dlq?service=notifications&messageName=identity.user-registered.v1' })).json();
    assert.ok(all.items.length >= 2);
    const times = all.items.map((i: { deadAt: string }) => i.deadAt);
    assert.deepEqual(times, [...times].sort());
    const limited = (await asAdmin({ url: '/api/admin/dlq?limit=1' })).json();
    assert.equal(limited.items.length, 1);
    assert.equal(limited.total, all.total);
    assert.equal(limited.items[0].id, all.items[0].id, 'the oldest first');
    const none = (await asAdmin({ url: '/api/admin/dlq?messageName=catalog.stock-changed.v1' })).json();
    assert.deepEqual(none, { items: [], total: 0, services: servicesWith('ok') });
  });

  it('refuses garbage with 400 and a service without a dead-letter queue with 404, as problem+json', async () => {
    for (const url of ['/api/admin/dlq?limit=0', '/api/admin/dlq?limit=lots', '/api/admin/dlq?limit=501', '/api/admin/dlq?service=Not%20A%20Name', `/api/admin/dlq?messageName=${'x'.repeat(201)}`]) {
      const res = await asAdmin({ url });
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.json().code, 'VALIDATION_FAILED', url);
    }
    for (const service of ['identity', 'gateway', 'nowhere']) {
      const res = await asAdmin({ url: `/api/admin/dlq?service=${service}` });
      assert.equal(res.statusCode, 404, service);
      assert.equal(res.json().code, 'UNKNOWN_SERVICE', service);
      assert.match(res.json().detail, /notifications/);
    }
  });

  it('answers 200 with what it has when a service cannot be reached, naming it unavailable', async () => {
    const degraded = await fixture.startGateway({ notifications: UNREACHABLE_URL });
    const res = await asAdmin({ url: '/api/admin/dlq', base: degraded.url });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { items: [], total: 0, services: servicesWith('unavailable') });
    const replay = await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay', base: degraded.url, json: {} });
    assert.equal(replay.statusCode, 200);
    assert.deepEqual(replay.json(), { replayed: 0, failed: 0, results: [], services: servicesWith('unavailable') });
    const one = await asAdmin({ url: `/api/admin/dlq/notifications/${randomUUID()}`, base: degraded.url });
    // By now the failed calls above (and the docs aggregator's) may have opened the gateway's breaker for it.
    assert.ok([502, 503].includes(one.statusCode), String(one.statusCode));
    assert.ok(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_CIRCUIT_OPEN'].includes(one.json().code), one.json().code);
    assert.match(one.json().detail, /notifications/);
    await degraded.close();
  });

  it('does not wait on a service that is too slow: unavailable in lists, 504 for one letter', async () => {
    const silent = createServer(() => {}); // takes requests, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const slow = await fixture.startGateway({ notifications: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }, { UPSTREAM_TIMEOUT_MS: '300', DLQ_REPLAY_TIMEOUT_MS: '300' });
    try {
      // Each call gives up after 300 ms (undici checks its timers about every 0.5 s; the fixture's own gateways would wait 3 s).
      const timed = async (options: Parameters<typeof call>[0]) => {
        const started = Date.now();
        const res = await asAdmin({ ...options, base: slow.url });
        assert.ok(Date.now() - started < 2_500, `${options.method ?? 'GET'} ${options.url} took ${Date.now() - started} ms`);
        return res;
      };
      const list = await timed({ url: '/api/admin/dlq' });
      assert.equal(list.statusCode, 200, list.body);
      assert.deepEqual(list.json().services, servicesWith('unavailable'));
      const replay = await timed({ method: 'POST', url: '/api/admin/dlq/replay', json: {} });
      assert.equal(replay.statusCode, 200, replay.body);
      assert.deepEqual(replay.json().services, servicesWith('unavailable'));
      const one = await timed({ method: 'DELETE', url: `/api/admin/dlq/notifications/${randomUUID()}` });
      assert.equal(one.statusCode, 504, one.body);
      assert.equal(one.json().code, 'UPSTREAM_TIMEOUT');
    } finally {
      silent.close();
      silent.closeAllConnections(); // first: the gateway's pool would otherwise wait out its pending docs fetch
      await slow.close();
    }
  });
});

describe('one dead letter through /api/admin/dlq/:service/:id', () => {
  it('inspects it with its message, passing the service\'s 404 on for an unknown id', async () => {
    const { deadLetterId, envelope } = await fixture.deadLetterOne();
    const res = await asAdmin({ url: `/api/admin/dlq/notifications/${deadLetterId}` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().id, deadLetterId);
    assert.deepEqual(res.json().message, envelope);

    const missing = await asAdmin({ url: `/api/admin/dlq/notifications/${randomUUID()}`, headers: { 'x-request-id': 'dlq-corr-1' } });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(missing.json().code, 'DEAD_LETTER_NOT_FOUND');
    assert.equal(missing.json().requestId, 'dlq-corr-1', "the service's problem, with the caller's correlation id");
    assert.equal(missing.headers['x-request-id'], 'dlq-corr-1');

    assert.equal((await asAdmin({ url: '/api/admin/dlq/notifications/not-a-uuid' })).json().code, 'VALIDATION_FAILED');
    assert.equal((await asAdmin({ url: `/api/admin/dlq/identity/${deadLetterId}` })).json().code, 'UNKNOWN_SERVICE');
    assert.equal((await asAdmin({ url: `/api/admin/dlq/Bad_Name/${deadLetterId}` })).statusCode, 400);
    assert.equal((await call({ url: `/api/admin/dlq/notifications/${deadLetterId}`, token: fixture.customerToken })).statusCode, 403);
    assert.equal((await call({ url: `/api/admin/dlq/notifications/${deadLetterId}` })).statusCode, 401);
  });

  it('replays it: 422 while the handler still fails, delivered once it works', async () => {
    const { deadLetterId, envelope } = await fixture.deadLetterOne();
    const failing = await asAdmin({ method: 'POST', url: `/api/admin/dlq/notifications/${deadLetterId}/replay` });
    assert.equal(failing.statusCode, 422);
    assert.equal(failing.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(failing.json().code, 'DEAD_LETTER_REPLAY_FAILED');
    assert.match(failing.json().detail, /mail server is down/);
    const still = (await asAdmin({ url: `/api/admin/dlq/notifications/${deadLetterId}` })).json();
    assert.equal(still.replays, 1, 'it stays in the queue, its replay counted');

    assert.equal((await call({ method: 'POST', url: `/api/admin/dlq/notifications/${deadLetterId}/replay`, token: fixture.customerToken })).statusCode, 403);

    fixture.handler.failing = false;
    try {
      const delivered = await asAdmin({ method: 'POST', url: `/api/admin/dlq/notifications/${deadLetterId}/replay` });
      assert.equal(delivered.statusCode, 200);
      assert.deepEqual(delivered.json(), { id: deadLetterId, outcome: 'delivered' });
      assert.ok(fixture.handler.handled.includes(envelope.id));
    } finally {
      fixture.handler.failing = true;
    }
    const gone = await asAdmin({ method: 'POST', url: `/api/admin/dlq/notifications/${deadLetterId}/replay` });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().code, 'DEAD_LETTER_NOT_FOUND');
  });

  it('discards it: 204, then 404', async () => {
    const { deadLetterId } = await fixture.deadLetterOne();
    assert.equal((await call({ method: 'DELETE', url: `/api/admin/dlq/notifications/${deadLetterId}`, token: fixture.customerToken })).statusCode, 403);
    const discarded = await asAdmin({ method: 'DELETE', url: `/api/admin/dlq/notifications/${deadLetterId}` });
    assert.equal(discarded.statusCode, 204);
    assert.equal(discarded.body, '');
    const again = await asAdmin({ method: 'DELETE', url: `/api/admin/dlq/notifications/${deadLetterId}` });
    assert.equal(again.statusCode, 404);
    assert.equal(again.json().code, 'DEAD_LETTER_NOT_FOUND');
    const listed = (await asAdmin({ url: '/api/admin/dlq' })).json();
    assert.ok(!listed.items.some((i: { id: string }) => i.id === deadLetterId));
  });
});

describe('POST /api/admin/dlq/replay', () => {
  it('replays everything, reporting each outcome with its service', async () => {
    const first = await fixture.deadLetterOne();
    const second = await fixture.deadLetterOne();
    const before = (await asAdmin({ url: '/api/admin/dlq?limit=500' })).json();

    const failing = await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay', json: { messageName: 'identity.user-registered.v1' } });
    assert.equal(failing.statusCode, 200);
    const failed = failing.json();
    assert.equal(failed.replayed, 0);
    assert.equal(failed.failed, before.total);
    assert.deepEqual(failed.services, servicesWith('ok'));
    for (const { deadLetterId } of [first, second]) {
      const result = failed.results.find((r: { id: string }) => r.id === deadLetterId);
      assert.equal(result.service, 'notifications');
      assert.equal(result.outcome, 'failed');
      assert.match(result.error, /mail server is down/);
    }

    const other = (await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay', json: { messageName: 'catalog.stock-changed.v1' } })).json();
    assert.deepEqual(other, { replayed: 0, failed: 0, results: [], services: servicesWith('ok') });

    fixture.handler.failing = false;
    try {
      const res = await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay', json: { service: 'notifications' } });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.replayed, before.total);
      assert.equal(body.failed, 0);
      assert.ok(body.results.every((r: { service: string; outcome: string }) => r.service === 'notifications' && r.outcome === 'delivered'));
      assert.ok(fixture.handler.handled.includes(first.envelope.id) && fixture.handler.handled.includes(second.envelope.id));
    } finally {
      fixture.handler.failing = true;
    }
    const after = (await asAdmin({ url: '/api/admin/dlq' })).json();
    assert.equal(after.total, 0);

    const bodyless = await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay' });
    assert.equal(bodyless.statusCode, 200, 'the body is optional');
  });

  it('refuses garbage bodies and unknown services, and non-admins', async () => {
    const cases: Array<[string | undefined, unknown, number, string]> = [
      [undefined, { service: 'identity' }, 404, 'UNKNOWN_SERVICE'],
      [undefined, { colour: 'red' }, 400, 'VALIDATION_FAILED'],
      [undefined, { service: 42 }, 400, 'VALIDATION_FAILED'],
      [undefined, [1, 2], 400, 'VALIDATION_FAILED'],
      ['{"service":', undefined, 400, 'MALFORMED_BODY'],
    ];
    for (const [payload, json, status, code] of cases) {
      const res = await asAdmin({ method: 'POST', url: '/api/admin/dlq/replay', json, ...(payload ? { payload, headers: { 'content-type': 'application/json' } } : {}) });
      assert.equal(res.statusCode, status, JSON.stringify(json ?? payload));
      assert.equal(res.json().code, code, JSON.stringify(json ?? payload));
    }
    assert.equal((await call({ method: 'POST', url: '/api/admin/dlq/replay', json: {}, token: fixture.customerToken })).statusCode, 403);
    assert.equal((await call({ method: 'POST', url: '/api/admin/dlq/replay', json: {} })).statusCode, 401);
  });
});

describe('the gateway around /api/admin/dlq', () => {
  it('keeps the proxied service routes working beside it', async () => {
    const direct = await asAdmin({ url: '/api/notifications/admin/dlq' });
    assert.equal(direct.statusCode, 200);
    assert.ok(Array.isArray(direct.json().items));
    assert.equal((await asAdmin({ url: '/api/admin/nothing-here' })).json().code, 'ROUTE_NOT_FOUND');
  });

  it('documents the routes in the aggregated OpenAPI document', async () => {
    const doc = (await call({ url: '/docs/json' })).json();
    for (const [path, methods] of Object.entries({
      '/api/admin/dlq': ['get'],
      '/api/admin/dlq/replay': ['post'],
      '/api/admin/dlq/{service}/{id}': ['get', 'delete'],
      '/api/admin/dlq/{service}/{id}/replay': ['post'],
    })) {
      for (const method of methods) {
        const operation = doc.paths[path]?.[method];
        assert.ok(operation, `${method.toUpperCase()} ${path} is documented`);
        assert.deepEqual(operation.security, [{ bearer: [] }]);
      }
    }
  });
});
