/**
 * Tracing leaves the process over OTLP/HTTP when an endpoint is configured, and a
 * caller's W3C trace continues through the service. The collector is a real HTTP
 * server in this process; the exporter posts JSON (`application/json`) to /v1/traces.
 * startTelemetry is process-global (first call wins): node --test runs this file in
 * its own process, and the telemetry is installed before createService runs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { createService, startTelemetry, type ServiceApp } from './index.ts';
import { probeConfig, probeService } from './testing/probe-service.ts';

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
}
interface OtlpTraces {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}
interface ReceivedSpan extends OtlpSpan {
  resource: OtlpAttribute[];
}

const SPAN_KIND_SERVER = 2; // OTLP's enum: INTERNAL = 1, SERVER = 2, CLIENT = 3

/** A minimal OTLP/HTTP collector: keeps every span posted to /v1/traces, with its resource. */
const received: ReceivedSpan[] = [];
const contentTypes = new Set<string>();
const collector = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
    contentTypes.add(String(req.headers['content-type']));
    const raw = Buffer.concat(chunks);
    const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')) as OtlpTraces;
    for (const { resource, scopeSpans } of body.resourceSpans) {
      for (const { spans } of scopeSpans) for (const span of spans) received.push({ ...span, resource: resource.attributes });
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

const attribute = (attributes: OtlpAttribute[], key: string) => attributes.find((a) => a.key === key)?.value;

const module = probeService('One route, to be traced', (app) => {
  app.get('/api/probe/ping', async () => ({ ok: true }));
});

const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
let app: ServiceApp | undefined;
let traced: { status: number; requestId: unknown; traceresponse: unknown };
let untraced: { status: number; traceresponse: unknown };
let unsampled: { status: number; traceresponse: unknown };

before(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const telemetry = startTelemetry({ serviceName: 'probe', otlpEndpoint: endpoint });
  ({ app } = await createService(module, probeConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), { logger: false }));
  const base = await app.listen({ port: 0, host: '127.0.0.1' });

  const first = await request(`${base}/api/probe/ping`, { headers: { traceparent: `00-${caller.traceId}-${caller.spanId}-01` } });
  await first.body.dump();
  traced = { status: first.statusCode, requestId: first.headers['x-request-id'], traceresponse: first.headers['traceresponse'] };
  const second = await request(`${base}/api/probe/ping`);
  await second.body.dump();
  untraced = { status: second.statusCode, traceresponse: second.headers['traceresponse'] };
  const third = await request(`${base}/api/probe/ping`, { headers: { traceparent: `00-${randomBytes(16).toString('hex')}-${caller.spanId}-00` } });
  await third.body.dump();
  unsampled = { status: third.statusCode, traceresponse: third.headers['traceresponse'] };

  // As runService does: close the listener (every server span has ended), then flush the exporter.
  await app.close();
  await telemetry.shutdown();
});
after(async () => {
  await app?.close();
  collector.closeAllConnections();
  collector.close();
});

describe('tracing over OTLP/HTTP', () => {
  it("exports the server span of a request, continuing the caller's trace", () => {
    assert.equal(traced.status, 200);
    assert.match(String(traced.requestId), /^[0-9a-f-]{36}$/, 'the answer carries x-request-id');
    assert.deepEqual([...contentTypes], ['application/json']);

    const spans = received.filter((s) => s.traceId === caller.traceId);
    assert.equal(spans.length, 1, `one span in the caller's trace; received: ${JSON.stringify(received)}`);
    const span = spans[0]!;
    assert.equal(span.parentSpanId, caller.spanId, "the caller's span is the parent");
    assert.notEqual(span.spanId, caller.spanId);
    assert.equal(span.kind, SPAN_KIND_SERVER);
    assert.equal(span.name, 'GET /api/probe/ping', 'named after the route that took it');
    assert.equal(attribute(span.attributes, 'http.route')?.stringValue, '/api/probe/ping');
    assert.equal(attribute(span.resource, 'service.name')?.stringValue, 'probe');
    assert.equal(Number(attribute(span.attributes, 'http.response.status_code')?.intValue), 200);
    assert.equal(attribute(span.attributes, 'url.path')?.stringValue, '/api/probe/ping');
    assert.equal(traced.traceresponse, `00-${caller.traceId}-${span.spanId}-01`, 'the answer names the trace and the span that served it (traceresponse)');
  });

  it('exports a root span for a request that arrives without traceparent', () => {
    assert.equal(untraced.status, 200);
    const roots = received.filter((s) => s.traceId !== caller.traceId);
    assert.equal(roots.length, 1, `one span outside the caller's trace; received: ${JSON.stringify(received)}`);
    const root = roots[0]!;
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.ok(!root.parentSpanId, 'a root span has no parent');
    assert.equal(root.kind, SPAN_KIND_SERVER);
    assert.equal(Number(attribute(root.attributes, 'http.response.status_code')?.intValue), 200);
    assert.equal(untraced.traceresponse, `00-${root.traceId}-${root.spanId}-01`);
  });

  it('names no trace in the answer to a caller that did not sample it (nothing recorded to look up)', () => {
    assert.equal(unsampled.status, 200);
    assert.equal(unsampled.traceresponse, undefined);
    assert.equal(received.length, 2, 'only the two sampled requests were recorded');
  });
});
