/**
 * Garbage thrown at every operation of the running system, through the gateway, the way
 * an API fuzzer (Schemathesis, RESTler) does it: requests generated from the aggregated
 * OpenAPI document, half valid and half bent out of shape, as an admin, a customer and
 * an anonymous caller, naming now and then a product, order, payment, shipment or
 * notification that exists; then the same at each service directly, past the gateway,
 * as a caller inside the cluster could. Whatever comes in, the answer is never a 5xx, a hang or a
 * stack trace; a refusal is problem+json with a stable code; a route that asks for a
 * token says so in the document; and afterwards every checkout invariant holds (the
 * garbage now and then places a real order, which is paid or cancelled, and moves real
 * stock on the way).
 *
 * A failure prints fast-check's seed and the shrunk request. Replay one with
 * `FUZZ_SEED=<seed>`; `FUZZ_RUNS` sets the requests per operation and caller (default 20).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { freePort } from '@bazaar/runtime/ports';
import { gatewayRequest, startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { serviceNames } from '@bazaar/topology';
import { cards, invariantsHold, newCustomer, newProduct, openShop, orderBody, passes, placeOrder, settled } from './fixtures/checkout.ts';
import { operationsOf, requestFor, type Examples, type FuzzRequest, type Operation } from './fixtures/openapi-fuzz.ts';

const runs = Number(process.env.FUZZ_RUNS ?? 20);
const seed = process.env.FUZZ_SEED === undefined ? Date.now() : Number(process.env.FUZZ_SEED);

let system: RunningSystem;
let stateDir: string;
let operations: Operation[] = [];
let examples: Examples = {};
const tokens: Record<'admin' | 'customer' | 'anonymous', string> = { admin: '', customer: '', anonymous: '' };

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'bazaar-fuzz-'));
  system = await startSystem(stateDir, await freePort());
  const shop = await openShop(system);
  const customer = await newCustomer(shop, 'Fuzz Customer');
  tokens.admin = shop.admin;
  tokens.customer = customer.token;
  operations = operationsOf((await gatewayRequest(system.gateway, '/docs/json')).body);

  // Things that exist, so that generated requests also name a real product, order,
  // payment, shipment or notification of the customer, and get past "not found".
  const productId = await newProduct(shop, 100_000);
  const placed = await placeOrder(shop, customer.token, [{ productId, quantity: 1 }]);
  assert.equal(placed.status, 202, placed.text);
  const orderId: string = placed.body.id;
  assert.equal((await settled(shop, customer.token, orderId)).status, 'CONFIRMED');
  const first = async (path: string, token = customer.token): Promise<string> => {
    let id = '';
    await passes(async () => {
      const list = await shop.api(path, { token });
      assert.equal(list.status, 200, list.text);
      id = list.body.items[0]?.id;
      assert.ok(id, `something at ${path}`);
    });
    return id;
  };
  const ids = {
    product: productId,
    order: orderId,
    payment: await first(`/api/payments?orderId=${orderId}`),
    shipment: await first(`/api/shipments?orderId=${orderId}`),
    notification: await first('/api/notifications'),
  };
  examples = {
    id: Object.values(ids),
    productId: [productId],
    orderId: [orderId],
    customerId: [customer.id],
    category: [shop.category],
    cardNumber: Object.values(cards),
    country: ['GB', 'AQ'],
    email: [customer.email],
    service: serviceNames,
    'idempotency-key': Array.from({ length: 100 }, (_, n) => `fuzz-key-${n}`),
    // The parts of an order that can be placed, so that now and then one is.
    items: [[{ productId, quantity: 1 }]],
    shippingAddress: [orderBody([]).shippingAddress, orderBody([], { country: 'AQ' }).shippingAddress],
    payment: [orderBody([]).payment, orderBody([], { card: cards.decline }).payment],
  };
});

after(async () => {
  if (system) await stopSystem(system);
  await rm(stateDir, { recursive: true, force: true });
});

interface Answer { status: number; contentType: string; text: string; allow?: string }

async function send(base: string, fuzz: FuzzRequest, token: string): Promise<Answer> {
  const answer = await request(`${base}${fuzz.path}`, {
    method: fuzz.method as 'GET',
    headers: { ...fuzz.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(fuzz.body !== undefined ? { body: fuzz.body } : {}),
    // Never a hang: every answer starts within the gateway's own upstream deadline and then some.
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  const contentType = String(answer.headers['content-type'] ?? '');
  // A live stream (an order's events) is an answer as soon as it starts.
  if (contentType.startsWith('text/event-stream')) {
    // Hung up on purpose: the abort that undici reports for it is ours.
    answer.body.once('error', () => {}).destroy();
    return { status: answer.statusCode, contentType, text: '' };
  }
  const text = await answer.body.text();
  const allow = answer.headers['allow'];
  return { status: answer.statusCode, contentType, text, ...(typeof allow === 'string' ? { allow } : {}) };
}

/**
 * Throws `runsPerOperation` generated requests at each operation of `base`, each as an
 * admin, a customer or an anonymous caller, and checks every answer; answers the
 * count of answers by status.
 */
async function garbageAt(base: string, targets: Operation[], runsPerOperation: number, afterEach?: () => Promise<void>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  for (const operation of targets) {
    await fc.assert(
      fc.asyncProperty(requestFor(operation, examples), fc.constantFrom('admin', 'customer', 'anonymous' as const), async (fuzz, caller) => {
        const answer = await send(base, fuzz, tokens[caller]);
        await afterEach?.();
        tally(statuses, answer.status);
        const seen = `${caller}: ${fuzz.method} ${base}${fuzz.path.slice(0, 300)} → ${answer.status} ${answer.text.slice(0, 300)}`;
        assert.ok(answer.status < 500, seen);
        // Who is calling is asked before what they sent is read: garbage from nobody is a 401, not a 400 or a
        // 415 — once there is a route to ask. A path that is not a URL, or too long for the router, or another
        // path once its dot segments are resolved, is answered by the router first (400, 414, 404, 405), and a
        // spent budget by the edge (429).
        const code = answer.status >= 400 ? (JSON.parse(answer.text) as { code?: unknown }).code : undefined;
        const routed = isUrlPath(fuzz.path) && !['URI_TOO_LONG', 'ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED', 'RATE_LIMITED'].includes(String(code));
        if (caller === 'anonymous' && operation.tokenRequired && routed) assert.equal(answer.status, 401, seen);
        if (answer.status >= 400) {
          assert.doesNotMatch(answer.text, /\bat \S+ \(|node_modules|\.ts:\d+/, `no stack trace: ${seen}`);
          assert.match(answer.contentType, /^application\/problem\+json/, seen);
          const code = (JSON.parse(answer.text) as { code?: unknown }).code;
          assert.match(String(code), /^[A-Z][A-Z_]+$/, seen);
          if (code === 'UNAUTHENTICATED' && caller === 'anonymous') assert.ok(operation.secured, `${operation.method} ${operation.path} asks for a token but its document does not say so`);
        }
      }),
      { numRuns: runsPerOperation, seed, endOnFailure: false },
    );
  }
  return statuses;
}

/** Whether the operation sets a fault on a service (`PUT /api/admin/faults/{service}`): it breaks things when it succeeds. */
const setsFault = (operation: Operation): boolean => operation.method === 'PUT' && operation.path.startsWith('/api/admin/faults/');

/** Whether every percent sign of the path starts an escape that decodes. */
const isUrlPath = (path: string): boolean => {
  try {
    decodeURIComponent(path.split('?')[0]!);
    return true;
  } catch {
    return false;
  }
};

const tally = <K>(counts: Map<K, number>, key: K): void => void counts.set(key, (counts.get(key) ?? 0) + 1);

/** Counts as JSON, by key in order (statuses are three digits: text order is number order). */
const histogram = (counts: Map<number | string, number>): string => JSON.stringify(Object.fromEntries([...counts].sort(([a], [b]) => String(a).localeCompare(String(b)))));

describe('garbage at every operation of the running system', () => {
  it('finds the operations of every service in the gateway\'s document', () => {
    const prefixes = new Set(operations.map((operation) => operation.path.split('/')[2]));
    for (const prefix of ['identity', 'catalog', 'orders', 'payments', 'shipments', 'notifications', 'admin']) assert.ok(prefixes.has(prefix), prefix);
    assert.ok(operations.length >= 40, `${operations.length} operations`);
  });

  it('answers every request without a 5xx, a hang or a stack trace, and every refusal as problem+json with a stable code', async (t) => {
    const statuses = await garbageAt(system.gateway, operations.filter((operation) => !setsFault(operation)), runs * 3);
    // The generator reaches past the first check often enough to matter: successes and
    // refusals of several kinds, not one wall of 400s.
    t.diagnostic(`${operations.length} operations, answers by status: ${histogram(statuses)}`);
    const ok = [...statuses].filter(([status]) => status < 300).reduce((sum, [, count]) => sum + count, 0);
    assert.ok(ok > operations.length, `answers by status: ${histogram(statuses)}`);
    for (const status of [400, 401, 403, 404]) assert.ok(statuses.has(status), `some ${status}: ${histogram(statuses)}`);
  });

  it('answers garbage at the fault-injection API the same way, each fault it did set ended before the next request', async (t) => {
    const breaking = operations.filter(setsFault);
    assert.ok(breaking.length > 0, 'the gateway documents PUT /api/admin/faults/{service}');
    // A valid fault breaks a service on purpose (errors, resets, requests never answered): what it does is
    // the chaos tests' business, so each one is ended at once and the next request meets a whole system.
    const endEveryFault = async () => {
      const ended = await send(system.gateway, { method: 'DELETE', path: '/api/admin/faults', headers: {} }, tokens.admin);
      assert.equal(ended.status, 200, ended.text);
    };
    const statuses = await garbageAt(system.gateway, breaking, runs * 3, endEveryFault);
    t.diagnostic(`answers by status: ${histogram(statuses)}`);
    assert.ok(statuses.has(400), `some refused: ${histogram(statuses)}`);
  });

  it('answers the same of each service called directly, past the gateway (as a caller inside the cluster would)', async (t) => {
    for (const service of serviceNames.filter((name) => name !== 'gateway')) {
      const base = system.instances[service]?.[0]?.url;
      assert.ok(base, `${service} runs`);
      const own = operationsOf((await gatewayRequest(base, '/docs/json')).body);
      assert.ok(own.length > 0, `${service} documents its operations`);
      const statuses = await garbageAt(base, own, runs);
      t.diagnostic(`${service}: ${own.length} operations, answers by status: ${histogram(statuses)}`);
    }
  });

  it('answers a method a path does not have with 405 and the path’s methods in Allow; OPTIONS with 204', async (t) => {
    const statuses = new Map<string, number>();
    const byPath = new Map<string, Set<string>>();
    for (const operation of operations) byPath.set(operation.path, (byPath.get(operation.path) ?? new Set()).add(operation.method));
    const template = (path: string) => new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`);
    for (const [path, has] of byPath) {
      const concrete = path.replace(/\{(\w+)\}/g, (_, name: string) => String(examples[name]?.[0] ?? examples['id']?.[0] ?? 'x'));
      // GET …/dlq/replay is GET …/dlq/{id} with the id "replay": a route, not a method the path lacks.
      const elsewhere = (method: string) => [...byPath].some(([other, methods]) => other !== path && methods.has(method) && template(other).test(concrete));
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'].filter((m) => !has.has(m) && !elsewhere(m))) {
        const answer = await send(system.gateway, { method, path: concrete, headers: {} }, tokens.admin);
        const seen = `${method} ${concrete} → ${answer.status} ${answer.text.slice(0, 200)}`;
        tally(statuses, `${method} ${answer.status}`);
        assert.ok(answer.status < 500, seen);
        if (answer.status >= 400) assert.match(answer.contentType, /^application\/problem\+json/, seen);
        // The gateway's budgets are not what this is about (the run may have spent them).
        if (answer.status === 429) continue;
        if (method === 'OPTIONS') {
          assert.equal(answer.status, 204, seen);
          continue;
        }
        assert.equal(answer.status, 405, seen);
        const allowed = new Set(answer.allow?.split(', '));
        for (const documented of has) assert.ok(allowed.has(documented), `${seen}: Allow (${answer.allow}) names ${documented}`);
        if (has.has('GET')) assert.ok(allowed.has('HEAD'), `${seen}: a GET route answers HEAD too`);
      }
    }
    t.diagnostic(`answers by method and status: ${histogram(statuses)}`);
  });

  it('leaves every invariant of checkout holding after it all', async () => {
    await invariantsHold(stateDir);
  });
});
