import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startTraceConsole } from './server.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const body = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'gateway' } }] },
      scopeSpans: [{ spans: [{ traceId: TRACE, spanId: 'b7ad6b7169203331', name: 'GET /api/catalog/products', kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000004000000', status: {} }] }],
    },
  ],
};

describe('trace console', () => {
  let console_: Awaited<ReturnType<typeof startTraceConsole>>;
  const call = async (path: string, options: Parameters<typeof request>[1] = {}) => {
    const answer = await request(`${console_.url}${path}`, options);
    const text = await answer.body.text();
    return { status: answer.statusCode, type: String(answer.headers['content-type']), text, json: () => JSON.parse(text) };
  };
  before(async () => {
    console_ = await startTraceConsole(0);
  });
  after(() => console_?.close());

  it('takes OTLP/HTTP JSON, plain or gzipped, and lists and shows the trace', async () => {
    const plain = await call('/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(plain.json(), {});
    const second = structuredClone(body);
    second.resourceSpans[0]!.resource.attributes[0]!.value.stringValue = 'catalog';
    second.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.spanId = 'b7ad6b7169203332';
    Object.assign(second.resourceSpans[0]!.scopeSpans[0]!.spans[0]!, { parentSpanId: 'b7ad6b7169203331', startTimeUnixNano: '1700000000001000000', endTimeUnixNano: '1700000000003000000' });
    const zipped = await call('/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(second)) });
    assert.equal(zipped.status, 200, zipped.text);

    const list = await call('/api/traces?service=catalog');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json().items.map((t: { traceId: string; services: string[]; durationMs: number }) => [t.traceId, t.services, t.durationMs]), [[TRACE, ['catalog', 'gateway'], 4]]);
    const trace = await call(`/api/traces/${TRACE}`);
    assert.deepEqual(trace.json().spans.map((s: { service: string; parentSpanId?: string }) => [s.service, s.parentSpanId ?? null]), [['gateway', null], ['catalog', 'b7ad6b7169203331']]);
    assert.deepEqual((await call('/api/services')).json(), { items: ['catalog', 'gateway'] });

    const page = await call('/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.text, /<title>Bazaar traces<\/title>/);
  });

  it('answers garbage with problem+json and a stable code', async () => {
    const cases: Array<[string, Parameters<typeof request>[1], number, string]> = [
      ['/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":' }, 400, 'MALFORMED_BODY'],
      ['/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip' }, 400, 'MALFORMED_BODY'],
      ['/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"spans":[]}' }, 400, 'VALIDATION_FAILED'],
      ['/v1/traces', { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([10, 0]) }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['/api/traces?limit=0', {}, 400, 'VALIDATION_FAILED'],
      ['/api/traces?limit=many', {}, 400, 'VALIDATION_FAILED'],
      ['/api/traces/not-a-trace-id', {}, 400, 'VALIDATION_FAILED'],
      [`/api/traces/${'f'.repeat(32)}`, {}, 404, 'NOT_FOUND'],
      ['/v1/traces', { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'],
      ['/nowhere', {}, 404, 'ROUTE_NOT_FOUND'],
    ];
    for (const [path, options, status, code] of cases) {
      const answer = await call(path, options);
      assert.equal(answer.status, status, `${path}: ${answer.text}`);
      assert.match(answer.type, /^application\/problem\+json/, path);
      assert.equal(answer.json().code, code, path);
    }
  });
});
