/**
 * Messaging as a user meets it, on the whole system started by the launcher,
 * once per broker: a customer registers through the gateway and finds a welcome
 * message from the notifications service in their inbox; the trace the caller
 * started continues through the gateway, identity's outbox, the broker and the
 * notifications consumer; the admin sees the system's dead-letter queue.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsBroker } from '@bazaar/chassis';
import { freePort } from '@bazaar/runtime/ports';
import { startOtlpCollector } from '@bazaar/runtime/testing/otlp-collector';
import { gatewayRequest, startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';

const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

for (const broker of ['embedded', 'nats'] as const) {
  describe(`registration to welcome message, ${broker} broker`, () => {
    let system: RunningSystem;
    let stateDir: string;
    let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
    const prefix = `e2e${randomUUID().slice(0, 8)}`;
    const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };
    const api = (path: string, options?: Parameters<typeof gatewayRequest>[2]) => gatewayRequest(system.gateway, path, options);

    before(async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-messaging-'));
      collector = await startOtlpCollector();
      system = await startSystem(stateDir, await freePort(), {
        args: broker === 'nats' ? ['--broker', NATS_URL] : [],
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
          // Traces a caller sampled are recorded, none that start here; spans leave every 100 ms.
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          BROKER_PREFIX: prefix,
          BAZAAR_ADMIN_EMAIL: admin.email,
          BAZAAR_ADMIN_PASSWORD: admin.password,
          CATALOG_SEED_DEMO: 'false',
        },
      });
    });

    after(async () => {
      if (system) await stopSystem(system);
      await collector?.close();
      await rm(stateDir, { recursive: true, force: true });
      if (broker === 'nats') {
        const nats = new NatsBroker(NATS_URL, { prefix });
        await nats.deleteStreams().finally(() => nats.close());
      }
    });

    it(`says which broker it runs on`, () => {
      const line = system.output.find((l) => l.includes('message broker:'));
      assert.ok(line, 'the launcher names the broker');
      assert.match(line, broker === 'nats' ? /NATS JetStream at 127\.0\.0\.1:4222/ : /embedded \(PostgreSQL database bazaar_broker\)/);
    });

    it('samples as OTEL_TRACES_SAMPLER says, and exports as soon as OTEL_BSP_SCHEDULE_DELAY says', async () => {
      const sampled = randomBytes(16).toString('hex');
      const asked = Date.now();
      // Past the gateway's cache, so that catalog answers too.
      const fresh = `/api/catalog/products?q=${randomUUID().slice(0, 8)}`;
      const followed = await api(fresh, { headers: { traceparent: `00-${sampled}-${randomBytes(8).toString('hex')}-01` } });
      assert.equal(followed.status, 200);
      assert.match(String(followed.headers['traceresponse']), new RegExp(`^00-${sampled}-[0-9a-f]{16}-01$`), 'a trace the caller sampled is recorded');
      const own = await api(`/api/catalog/products?q=${randomUUID().slice(0, 8)}`);
      assert.equal(own.status, 200);
      assert.equal(own.headers['traceresponse'], undefined, 'a trace that starts here is not, at a ratio of 0');
      // The SDK's default batch delay is 5 s: well before that, the gateway's and catalog's spans are in.
      const arrived = () => ['gateway', 'catalog'].every((service) => collector.spans.some((s) => s.traceId === sampled && s.service === service));
      while (!arrived() && Date.now() - asked < 4_000) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(arrived(), `spans of the sampled trace within 4 s: ${collector.spans.filter((s) => s.traceId === sampled).map((s) => s.service)}`);
    });

    it('welcomes a new customer, and the caller\'s trace runs from the gateway to the consumer', async () => {
      const traceId = randomBytes(16).toString('hex');
      const email = `welcome.${randomUUID().slice(0, 8)}@example.com`;
      const password = 'correct horse battery staple';
      const registered = await api('/api/identity/register', {
        method: 'POST',
        json: { email, password, name: 'Grace' },
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      assert.equal(registered.status, 201, registered.text);
      const { accessToken } = (await api('/api/identity/login', { method: 'POST', json: { email, password } })).body;

      let inbox = await api('/api/notifications', { token: accessToken });
      const deadline = Date.now() + 20_000;
      while (inbox.body?.total !== 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        inbox = await api('/api/notifications', { token: accessToken });
      }
      assert.equal(inbox.status, 200, inbox.text);
      assert.equal(inbox.body.total, 1, 'exactly one welcome message');
      assert.match(inbox.body.items[0].subject, /Welcome to Bazaar, Grace/);

      // Each process exports its spans in batches (every few seconds): wait for all three.
      const spansOf = () => collector.spans.filter((s) => s.traceId === traceId);
      const complete = () => ['gateway', 'identity', 'notifications'].every((service) => spansOf().some((s) => s.service === service));
      const spanDeadline = Date.now() + 20_000;
      while (!complete() && Date.now() < spanDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const spans = spansOf();
      assert.ok(spans.some((s) => s.service === 'gateway' && s.kind === SPAN_KIND_SERVER), 'gateway span in the caller\'s trace');
      const identitySpan = spans.find((s) => s.service === 'identity' && s.kind === SPAN_KIND_SERVER);
      assert.ok(identitySpan, 'identity span in the caller\'s trace');
      const consumerSpan = spans.find((s) => s.service === 'notifications' && s.kind === SPAN_KIND_CONSUMER);
      assert.ok(consumerSpan, `notifications consumer span in the caller's trace (got ${spans.map((s) => `${s.service}:${s.name}`).join(', ')})`);
      assert.equal(consumerSpan.name, 'process identity.user-registered.v1');
      assert.equal(consumerSpan.parentSpanId, identitySpan.spanId, 'the consumer continues the span that wrote the message');
    });

    it('shows the admin an empty dead-letter queue, and refuses customers', async () => {
      const { accessToken } = (await api('/api/identity/login', { method: 'POST', json: admin })).body;
      const dlq = await api('/api/admin/dlq', { token: accessToken });
      assert.equal(dlq.status, 200, dlq.text);
      assert.equal(dlq.body.total, 0);
      assert.equal(dlq.body.services.notifications, 'ok');
      assert.equal((await api('/api/admin/dlq')).status, 401);
    });
  });
}
