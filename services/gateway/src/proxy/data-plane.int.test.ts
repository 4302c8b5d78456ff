import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { UpstreamClient, requestDurationHistogram } from '@bazaar/chassis';
import { callPolicy, routeTable, routedServices, type ServiceName } from '@bazaar/topology';
import type { FastifyBaseLogger } from 'fastify';
import { Registry } from 'prom-client';
import { createRateLimiter } from '../edge/rate-limit.ts';
import { createDataPlane } from './data-plane.ts';

const servers: Server[] = [];
const clients: UpstreamClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listening(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const quiet = { info() {}, warn() {} } as unknown as FastifyBaseLogger;

/** A gateway data plane on a server of its own, with its own metrics registry, in front of `upstreamUrl`. */
async function gateway(upstreamUrl: string): Promise<{ url: string; registry: Registry }> {
  const registry = new Registry();
  const upstreams = new Map<ServiceName, UpstreamClient>();
  for (const service of routedServices) {
    const client = new UpstreamClient({ caller: 'gateway', service, policy: callPolicy('gateway', service), instances: () => [{ id: `${service}-1`, url: upstreamUrl }] });
    clients.push(client);
    upstreams.set(service, client);
  }
  const plane = createDataPlane({
    routes: routeTable(),
    upstreams,
    verifyAccessToken: async () => assert.fail('no token is sent'),
    rateLimiter: createRateLimiter({ perIpPerMinute: 1_000, perUserPerMinute: 1_000 }),
    corsOrigins: new Set(),
    bodyLimit: 1_024,
    duration: requestDurationHistogram(registry),
    log: quiet,
    accessLog: 'errors',
    slowMs: 1_000,
    timeoutMs: 1_000,
  });
  const url = await listening(createServer((req, res) => void (plane(req, res, 'req-1') || res.writeHead(404).end())));
  return { url, registry };
}

describe('data plane', () => {
  it('counts each request in the duration histogram of its own data plane', async () => {
    const upstreamUrl = await listening(createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')));
    const first = await gateway(upstreamUrl);
    const second = await gateway(upstreamUrl);
    for (const { url } of [first, second]) {
      const response = await fetch(`${url}/api/catalog/products`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ok: true });
    }
    for (const { registry } of [first, second]) {
      const text = await registry.getSingleMetricAsString('http_server_request_duration_seconds');
      assert.match(text, /http_server_request_duration_seconds_count\{[^}]*route="\/api\/catalog\/\*"[^}]*\} 1$/m);
    }
  });
});
