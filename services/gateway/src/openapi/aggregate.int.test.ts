/**
 * The OpenAPI aggregator fetches every service's `/docs/json` in the background, every
 * 30 s: work nobody asked for, so it leaves no trace, neither in the gateway nor in the
 * services it calls. (Before, each service recorded a root `GET /docs/json` span on
 * every refresh, and the local trace console of an idle system filled with them.) A
 * chassis service exports here to a real trace console, as under `npm start`;
 * startTelemetry is process-global (first call wins), so it is installed before
 * createService runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createService, startTelemetry, UpstreamClient, type ServiceApp } from '@bazaar/chassis';
import { startTraceConsole } from '@bazaar/runtime/trace-console/server';
import { callPolicy } from '@bazaar/topology';
import { OpenApiAggregator } from './aggregate.ts';
import { probeConfig, probeService } from '@bazaar/chassis/testing/probe-service';

const module = probeService('One route, in its OpenAPI document', (app) => {
  app.get('/api/probe/ping', { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }));
});

let traceConsole: Awaited<ReturnType<typeof startTraceConsole>>;
let app: ServiceApp | undefined;
let merged: ReturnType<OpenApiAggregator['merge']>;

before(async () => {
  traceConsole = await startTraceConsole(0);
  const telemetry = startTelemetry({ serviceName: 'probe', otlpEndpoint: traceConsole.url, exportDelayMs: 10 });
  ({ app } = await createService(module, probeConfig(), { logger: false }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const client = new UpstreamClient({ caller: 'gateway', service: 'probe', policy: callPolicy('gateway', 'probe'), instances: () => [{ id: 'probe-1', url }] });

  const aggregator = new OpenApiAggregator([client], app.log);
  await aggregator.refresh();
  merged = aggregator.merge({ openapi: '3.1.0', info: { title: 'gateway', version: '1' }, paths: {} });
  // A call somebody asked for, through the same client: traced, so the console does receive spans.
  await client.requestJson({ path: '/api/probe/ping' });

  await client.close();
  // As runService does: close the listener (every server span has ended), then flush the exporter.
  await app.close();
  await telemetry.shutdown();
});
after(async () => {
  await app?.close();
  await traceConsole?.close();
});

describe('the OpenAPI aggregator’s background refresh', () => {
  it('fetches the service’s document', () => {
    assert.ok(merged.paths?.['/api/probe/ping'], JSON.stringify(merged.paths));
    assert.equal(merged['x-unavailable-services'], undefined);
  });

  it('leaves no trace in the service it calls; a call somebody asked for still does', () => {
    const traces = traceConsole.store.summaries({ limit: 500 }).map((t) => t.name);
    assert.deepEqual(traces, ['GET /api/probe/ping']);
  });
});
