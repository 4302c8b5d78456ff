import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedTraces, TraceStore } from './trace-store.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ms = (value: number) => String(BigInt(value) * 1_000_000n);

function span(spanId: string, name: string, startMs: number, endMs: number, extra: Record<string, unknown> = {}) {
  return { traceId: TRACE, spanId, name, kind: 2, startTimeUnixNano: ms(startMs), endTimeUnixNano: ms(endMs), attributes: [], status: { code: 0 }, ...extra };
}

function exportOf(service: string, spans: unknown[]) {
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ scope: { name: 'x' }, spans }] }] };
}

describe('trace store', () => {
  it('groups the spans services export into one trace, rooted where it began', () => {
    const store = new TraceStore();
    // The gateway's server span is the root; orders exports a child (its server span) and a producer span.
    assert.equal(store.ingest(exportOf('orders', [
      span('00f067aa0ba902b8', 'POST /api/orders', 1_000_005, 1_000_030, { parentSpanId: '00f067aa0ba902b7' }),
      span('00f067aa0ba902b9', 'publish orders', 1_000_020, 1_000_022, { parentSpanId: '00f067aa0ba902b8', kind: 4, status: { code: 2 }, attributes: [{ key: 'messaging.destination', value: { stringValue: 'catalog' } }, { key: 'n', value: { intValue: '3' } }] }),
    ])), 2);
    store.ingest(exportOf('gateway', [span('00f067aa0ba902b7', 'POST /api/orders', 1_000_000, 1_000_040)]));

    const [summary, ...others] = store.summaries();
    assert.equal(others.length, 0);
    assert.deepEqual(summary, { traceId: TRACE, name: 'POST /api/orders', rootService: 'gateway', services: ['gateway', 'orders'], startMs: 1_000_000, durationMs: 40, spans: 3, errors: 1 });
    const trace = store.trace(TRACE.toUpperCase())!;
    assert.deepEqual(trace.spans.map((s) => [s.service, s.kind, s.parentSpanId ?? null]), [
      ['gateway', 'SERVER', null],
      ['orders', 'SERVER', '00f067aa0ba902b7'],
      ['orders', 'PRODUCER', '00f067aa0ba902b8'],
    ]);
    assert.deepEqual(trace.spans[2]!.attributes, { 'messaging.destination': 'catalog', n: 3 });
    assert.equal(trace.spans[2]!.error, true);
    assert.deepEqual(store.summaries({ service: 'orders' }).map((s) => s.traceId), [TRACE]);
    assert.deepEqual(store.summaries({ service: 'payments' }), []);
    assert.deepEqual(store.services(), ['gateway', 'orders']);
  });

  it('names a trace by its earliest orphan while the root has not arrived', () => {
    const store = new TraceStore();
    store.ingest(exportOf('catalog', [span('00f067aa0ba902c1', 'reserve stock', 5, 9, { parentSpanId: '00f067aa0ba902c0' })]));
    assert.equal(store.summaries()[0]!.name, 'reserve stock');
  });

  it('keeps the most recent traces and a bounded number of spans per trace, once each', () => {
    const store = new TraceStore({ maxTraces: 2, maxSpansPerTrace: 2 });
    for (const [i, traceId] of ['a', 'b', 'c'].map((c) => c.repeat(32)).entries()) {
      store.ingest(exportOf('gateway', [{ ...span('1'.repeat(16), `GET /${i}`, i * 10, i * 10 + 1), traceId }]));
    }
    assert.deepEqual(store.summaries().map((s) => s.name), ['GET /2', 'GET /1']);
    assert.equal(store.trace('a'.repeat(32)), undefined);
    const full = 'c'.repeat(32);
    store.ingest(exportOf('gateway', [{ ...span('1'.repeat(16), 'again', 0, 1), traceId: full }, { ...span('2'.repeat(16), 'second', 0, 1), traceId: full }, { ...span('3'.repeat(16), 'third', 0, 1), traceId: full }]));
    assert.equal(store.trace(full)!.spans.length, 2);
    assert.equal(store.dropped, 2);
  });

  it('refuses what is not an OTLP export, and skips spans without valid ids or times', () => {
    const store = new TraceStore();
    for (const body of [null, 'x', 42, {}, { resourceSpans: 'no' }]) assert.throws(() => store.ingest(body), MalformedTraces);
    assert.equal(store.ingest({ resourceSpans: [null, { scopeSpans: 'x' }, { scopeSpans: [{ spans: [null, {}, span('xyz', 'bad id', 1, 2), { ...span('1'.repeat(16), 'no end', 1, 2), endTimeUnixNano: 'soon' }] }] }] }), 0);
    assert.deepEqual(store.summaries(), []);
  });
});
