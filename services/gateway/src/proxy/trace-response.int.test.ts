/**
 * The gateway's answer names the trace its own server span belongs to
 * (`traceresponse`, W3C Trace Context Level 2) — the trace's root — and never an
 * upstream's: the gateway span is where a client looks its request up, and an
 * upstream's header can name another trace (a cached answer's names the trace that
 * filled the cache). startTelemetry is process-global: this file runs in its own process.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { createService, loadConfig, startTelemetry, type ServiceApp } from '@bazaar/chassis';
import { testTokens } from '@bazaar/runtime/testing/tokens';
import { routedServices, serviceUrlVariable } from '@bazaar/topology';
import { createGatewayService } from '../app.ts';
import { GatewayConfig } from '../config.ts';

const exporter = new InMemorySpanExporter();
const UPSTREAM_TRACE = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
let upstream: Server;
let gateway: ServiceApp;
let base: string;

before(async () => {
  startTelemetry({ serviceName: 'gateway', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  upstream = createServer((req, res) => {
    if (req.url === '/readyz') return void res.writeHead(200).end('{}');
    res.writeHead(200, { 'content-type': 'application/json', traceresponse: UPSTREAM_TRACE }).end('{"items":[]}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const tokens = await testTokens();
  const env: Record<string, string> = { SERVICE_NAME: 'gateway', PORT: '0', ...Object.fromEntries(routedServices.map((service) => [serviceUrlVariable(service), url])) };
  ({ app: gateway } = await createService({ ...createGatewayService(), accessTokens: () => tokens.verifier }, loadConfig(GatewayConfig, env), { logger: false }));
  base = await gateway.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await gateway?.close();
  upstream?.close();
});

describe('traceresponse at the edge', () => {
  it('names the gateway’s own span, not the upstream’s', async () => {
    const answers = [];
    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`${base}/api/catalog/products`);
      await answer.arrayBuffer();
      answers.push(answer.headers.get('traceresponse'));
    }
    for (let waited = 0; exporter.getFinishedSpans().length < 2; waited += 5) {
      assert.ok(waited < 2_000, 'both requests were traced');
      await sleep(5);
    }
    const spans = exporter.getFinishedSpans().map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    assert.deepEqual(answers, spans, 'each answer names its own server span');
    assert.notEqual(answers[0], answers[1]);
  });
});
