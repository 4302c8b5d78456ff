/**
 * Work nobody asked for leaves no trace: calls made inside `untraced()` (the gateway's
 * OpenAPI refresh) are recorded neither by the caller nor by the service they reach,
 * and probes and scrapes (`/healthz`, `/readyz`, `/metrics`: the orchestrator's and
 * Prometheus' calls, every few seconds) are not traced. What somebody asked for still
 * is. Spans go to an in-memory exporter; startTelemetry is process-global (first call
 * wins), so it is installed before createService runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { callPolicy } from '@bazaar/topology';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { createService, startTelemetry, tracer, untraced, UpstreamClient, type ServiceApp } from './index.ts';
import { probeConfig, probeService } from './testing/probe-service.ts';

const exporter = new InMemorySpanExporter();
const seen: unknown[] = [];
const module = probeService('One route, to be called', (app) => {
  app.get('/api/probe/ping', async (request) => {
    seen.push(request.headers.traceparent);
    return { ok: true };
  });
  app.get('/api/probe/last', async () => ({ ok: true }));
});

let app: ServiceApp | undefined;
let client: UpstreamClient;
let base: string;

/**
 * The paths of the server spans recorded since `exporter.reset()`, once a last traced
 * request has ended (a span ends when its response has been written, maybe after the
 * client has read it): the requests before it have ended too.
 */
async function recordedPaths(): Promise<unknown[]> {
  await fetch(`${base}/api/probe/last`).then((answer) => answer.arrayBuffer());
  const paths = () => exporter.getFinishedSpans().map((span) => span.attributes['url.path']);
  for (let waited = 0; !paths().includes('/api/probe/last'); waited += 5) {
    assert.ok(waited < 2_000, 'the last request was traced');
    await sleep(5);
  }
  return paths().filter((path) => path !== '/api/probe/last');
}

before(async () => {
  startTelemetry({ serviceName: 'probe', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  ({ app } = await createService(module, probeConfig(), { logger: false }));
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  client = new UpstreamClient({ caller: 'caller', service: 'probe', policy: callPolicy('caller', 'probe'), instances: () => [{ id: 'probe-1', url: base }] });
});
after(async () => {
  await client?.close();
  await app?.close();
});

describe('background work', () => {
  it('inside untraced(): nothing recorded here, and the service called records nothing either', async () => {
    exporter.reset();
    seen.length = 0;
    await untraced(async () => {
      assert.equal(tracer().startSpan('housekeeping').isRecording(), false, 'no local span is recorded');
      assert.equal((await client.requestJson({ path: '/api/probe/ping' })).status, 200);
    });
    assert.match(String(seen[0]), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'the callee is told: not sampled');
    assert.deepEqual(await recordedPaths(), []);
  });

  it('outside it, the same call is traced (a root span in the service)', async () => {
    exporter.reset();
    await client.requestJson({ path: '/api/probe/ping' });
    assert.deepEqual(await recordedPaths(), ['/api/probe/ping']);
  });

  it('probes and scrapes are not traced', async () => {
    exporter.reset();
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const answer = await fetch(`${base}${path}`);
      await answer.arrayBuffer();
      assert.equal(answer.status, 200, path);
    }
    assert.deepEqual(await recordedPaths(), []);
  });
});
