/**
 * Services behind the gateway for the outage phase of bench:resilience: a fast
 * catalog, an orders service that can be told to stall (accept requests and
 * never answer), and one server for every other routed service. Each answers
 * the probes and the OpenAPI document the gateway reads at start.
 *
 * FAKE_SERVICES picks which of `catalog`, `orders`, `other` this process serves
 * (all by default): the bench runs orders in a process of its own, as it would
 * be in production, so the stalled service's connection churn does not land
 * on the catalog's event loop.
 *
 * A control port switches orders: `POST /orders/stall`, `POST /orders/recover`
 * (drops the requests held so far), `GET /stats` (requests received per service
 * since the last /stats, and how many are held now).
 *
 * Tells its parent the ports over IPC once everything listens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const products = JSON.stringify({
  items: [
    { id: '00000000-0000-4000-8000-000000000001', name: 'Espresso cup', priceCents: 1200, currency: 'EUR', stock: 40 },
    { id: '00000000-0000-4000-8000-000000000002', name: 'Milk jug', priceCents: 1800, currency: 'EUR', stock: 12 },
  ],
  nextCursor: null,
});
const orders = JSON.stringify({ items: [{ id: '00000000-0000-4000-8000-00000000000a', status: 'CONFIRMED', totalCents: 3000 }], nextCursor: null });
const openapi = '{"openapi":"3.1.0","info":{"title":"fake","version":"0"},"paths":{}}';

let stalled = false;
const held = new Set<ServerResponse>();
let received: Record<string, number> = {};

function json(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Probes, docs and keys every fake answers the same way. */
function common(req: IncomingMessage, res: ServerResponse): boolean {
  const path = req.url!.split('?')[0];
  if (path === '/readyz' || path === '/healthz') json(res, 200, '{"status":"ok"}');
  else if (path === '/docs/json') json(res, 200, openapi);
  else if (path === '/api/identity/.well-known/jwks.json') json(res, 200, '{"keys":[]}');
  else return false;
  return true;
}

function serve(name: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server = createServer((req, res) => {
    if (common(req, res)) return;
    received[name] = (received[name] ?? 0) + 1;
    answer(req, res);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

const serving = new Set((process.env['FAKE_SERVICES'] ?? 'catalog,orders,other').split(','));
const ports: Record<string, number> = {};
if (serving.has('catalog')) ports['catalog'] = await serve('catalog', (_req, res) => json(res, 200, products));
if (serving.has('orders')) {
  ports['orders'] = await serve('orders', (_req, res) => {
    if (!stalled) return json(res, 200, orders);
    // Stalled: the request is read and never answered, until the caller gives up (or recovery drops it).
    held.add(res);
    res.once('close', () => held.delete(res));
  });
}
if (serving.has('other')) ports['others'] = await serve('other', (_req, res) => json(res, 200, '{"items":[]}'));

const control = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/orders/stall') {
    stalled = true;
    return json(res, 200, '{"orders":"stalled"}');
  }
  if (req.method === 'POST' && req.url === '/orders/recover') {
    stalled = false;
    for (const waiting of held) waiting.destroy();
    held.clear();
    return json(res, 200, '{"orders":"healthy"}');
  }
  if (req.url === '/stats') {
    const body = JSON.stringify({ received, held: held.size });
    received = {};
    return json(res, 200, body);
  }
  json(res, 404, '{}');
});
const controlPort = await new Promise<number>((resolve) => control.listen(0, '127.0.0.1', () => resolve((control.address() as AddressInfo).port)));

process.send?.({ type: 'ready', ports: { ...ports, control: controlPort } });
process.on('disconnect', () => process.exit(0));
