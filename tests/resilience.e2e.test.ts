/**
 * Resilience of the running system, with real processes: three catalog replicas
 * behind the gateway's balancer, faults injected into real services through
 * their /internal/faults hooks (what `npm run chaos` drives), processes
 * SIGKILLed and SIGSTOPped.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { clearFault, faultStatus, setFault } from '@bazaar/chassis/faults';
import { freePort } from '@bazaar/runtime/ports';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { gatewayRequest, startSystem, stopSystem, type Answer, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import type { ServiceName } from '@bazaar/topology';
import { cards, newCustomer, newProduct, openShop, passes, placeOrder, settled, type Shop } from './fixtures/checkout.ts';

describe('resilience of the running system', () => {
  let system: RunningSystem;
  let stateDir: string;
  let shop: Shop;
  const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };

  /** Where each process of `service` listens now (runtime.json follows restarts). */
  const urlsOf = async (service: ServiceName) => ((await readRuntimeFile(stateDir))?.instances[service] ?? []).map((i) => i.url);
  const pidsOf = async (service: ServiceName) => ((await readRuntimeFile(stateDir))?.instances[service] ?? []).map((i) => i.pid);

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-resilience-'));
    system = await startSystem(stateDir, await freePort(), {
      replicas: { catalog: 3 },
      env: {
        BAZAAR_ADMIN_EMAIL: admin.email,
        BAZAAR_ADMIN_PASSWORD: admin.password,
        RATE_LIMIT_PER_MINUTE: '1000000',
        RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
        // Small enough to see in a test: shipping's bulkhead at the gateway holds 2 calls, no queue;
        // a breaker judges the last 10 calls and lets a trial call through after 1 s.
        CALL_POLICY_OVERRIDES: JSON.stringify({ shipping: { bulkhead: { maxConcurrent: 2, maxQueue: 0 } }, '*': { breaker: { windowCalls: 10, minimumCalls: 4, halfOpenAfterMs: 1_000 } } }),
        // The saga waits this long for a step before compensating.
        SAGA_STEP_TIMEOUT_MS: '30000',
      },
    });
    shop = await openShop(system, admin);
  });

  after(async () => {
    if (system) await stopSystem(system);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('lists every instance in the registry, with pid, address, health and breaker state (admin only)', async () => {
    await passes(async () => {
      const registry = await shop.api('/api/admin/registry', { token: shop.admin });
      assert.equal(registry.status, 200, registry.text);
      const catalog = registry.body.services.catalog;
      assert.equal(catalog.breaker, 'closed');
      assert.equal(catalog.instances.length, 3);
      const pids = await pidsOf('catalog');
      for (const instance of catalog.instances) {
        assert.ok(pids.includes(instance.pid), `pid ${instance.pid} is a catalog replica`);
        assert.equal(instance.reported, 'up');
        assert.equal(instance.probe, 'ready');
        assert.match(instance.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      }
      for (const service of ['identity', 'orders', 'payments', 'shipping', 'notifications', 'gateway']) assert.equal(registry.body.services[service].instances.length, 1, service);
    });
    const customer = await newCustomer(shop);
    assert.equal((await shop.api('/api/admin/registry', { token: customer.token })).status, 403);
    assert.equal((await shop.api('/api/admin/registry')).status, 401);
  });

  it('balances reads over the catalog replicas', async () => {
    const before_ = await Promise.all((await urlsOf('catalog')).map((url) => faultStatus(url)));
    // A fault that does nothing but count: latency 0 on every request from the gateway.
    for (const url of await urlsOf('catalog')) await setFault(url, { latencyMs: 1, from: 'gateway', forMs: 30_000 });
    for (let i = 0; i < 60; i++) assert.equal((await shop.api('/api/catalog/products', { headers: { 'cache-control': 'no-cache' } })).status, 200);
    const counts = await Promise.all((await urlsOf('catalog')).map(async (url) => (await clearFault(url)).counters.matched));
    assert.equal(before_.length, 3);
    assert.equal(counts.reduce((a, b) => a + b, 0), 60);
    for (const count of counts) assert.ok(count >= 10, `every replica takes a share: ${counts.join(', ')}`);
  });

  it('a replica SIGKILLed under steady load costs no more failed requests than were in flight', async (t) => {
    const victim = (await pidsOf('catalog'))[1]!;
    let inFlight = 0;
    let killed = false;
    const failures: Array<{ status: number; code?: string; afterKill: boolean }> = [];
    let done = 0;
    const stopAt = Date.now() + 6_000;
    const worker = async () => {
      while (Date.now() < stopAt) {
        inFlight++;
        const answer = await gatewayRequest(system.gateway, '/api/catalog/products?pageSize=5', { headers: { 'cache-control': 'no-cache' } }).catch(() => ({ status: 0, body: undefined }));
        inFlight--;
        done++;
        if (answer.status !== 200) failures.push({ status: answer.status, code: answer.body?.code, afterKill: killed });
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await sleep(2_000);
    const inFlightAtKill = inFlight;
    process.kill(victim, 'SIGKILL');
    killed = true;
    await load;
    t.diagnostic(`${done} requests in 6 s, ${inFlightAtKill} in flight at the kill, ${failures.length} failed`);
    assert.ok(done > 100, `steady load: ${done} requests`);
    assert.ok(failures.length <= inFlightAtKill, `failed ${JSON.stringify(failures)}; ${inFlightAtKill} were in flight at the kill`);
    // The launcher brings the replica back, and it registers again.
    await passes(async () => {
      const registry = await shop.api('/api/admin/registry?probe=false', { token: shop.admin });
      const instances = registry.body.services.catalog.instances as Array<{ pid: number; reported: string }>;
      assert.equal(instances.filter((i) => i.reported === 'up').length, 3);
      assert.ok(!instances.some((i) => i.pid === victim));
    }, 60_000);
  });

  it('opens the gateway breaker of a failing service, answers 503 at once while open, and closes after recovery', async () => {
    const [notifications] = await urlsOf('notifications');
    await setFault(notifications!, { errorRate: 1, from: 'gateway', forMs: 60_000 });
    // Failures fill the breaker's window (each GET is tried twice) until more than half of it failed.
    let failed = 0;
    while ((await shop.api('/api/notifications')).body?.code !== 'UPSTREAM_CIRCUIT_OPEN') {
      assert.ok(++failed <= 10, 'the breaker opens within ten failing requests');
    }
    const reachedBefore = (await faultStatus(notifications!)).counters.matched;
    const started = performance.now();
    const open = await shop.api('/api/notifications');
    assert.equal(open.status, 503);
    assert.equal(open.body.code, 'UPSTREAM_CIRCUIT_OPEN');
    assert.ok(Number(open.headers['retry-after']) >= 1);
    assert.ok(performance.now() - started < 250, 'answered without calling notifications');
    assert.equal((await faultStatus(notifications!)).counters.matched, reachedBefore, 'no request reached notifications while open');
    const registry = await shop.api('/api/admin/registry?probe=false', { token: shop.admin });
    assert.equal(registry.body.services.notifications.breaker, 'open');

    await clearFault(notifications!);
    await sleep(1_100);
    await passes(async () => {
      const answer = await shop.api('/api/notifications');
      assert.equal(answer.status, 401, answer.text); // notifications answers again (the inbox needs a token)
    }, 5_000);
    const closed = await shop.api('/api/admin/registry?probe=false', { token: shop.admin });
    assert.equal(closed.body.services.notifications.breaker, 'closed');
  });

  it('never retries a POST; retries a GET', async () => {
    const [identity] = await urlsOf('identity');
    await setFault(identity!, { errorRate: 1, from: 'gateway', pathPrefix: '/api/identity/login', forMs: 30_000 });
    const post = await shop.api('/api/identity/login', { method: 'POST', json: admin });
    assert.equal(post.status, 503);
    assert.equal((await faultStatus(identity!)).counters.matched, 1, 'the POST reached identity once');
    await setFault(identity!, { errorRate: 1, from: 'gateway', pathPrefix: '/api/identity/.well-known', forMs: 30_000 });
    const get = await shop.api('/api/identity/.well-known/jwks.json');
    assert.equal(get.status, 503);
    assert.equal((await faultStatus(identity!)).counters.matched, 2, 'the GET was tried twice');
    await clearFault(identity!);
  });

  it('a full bulkhead answers 503 at once', async () => {
    const [shipping] = await urlsOf('shipping');
    await setFault(shipping!, { latencyMs: 1_500, from: 'gateway', forMs: 30_000 });
    const slow = [shop.api('/api/shipments/x'), shop.api('/api/shipments/y')];
    await sleep(200);
    const started = performance.now();
    const refused = await shop.api('/api/shipments/z');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'UPSTREAM_SATURATED');
    assert.ok(refused.headers['retry-after']);
    assert.ok(performance.now() - started < 250, 'refused without waiting');
    for (const answer of await Promise.all(slow)) assert.notEqual(answer.status, 503, 'the two in the bulkhead got through');
    await clearFault(shipping!);
  });

  it('the storefront home answers with what is up and names what is missing', async () => {
    const customer = await newCustomer(shop);
    const full = await shop.api('/api/storefront/home', { token: customer.token });
    assert.equal(full.status, 200, full.text);
    assert.equal(full.body.partial, false);
    assert.ok(full.body.categories.length > 0);
    assert.ok(full.body.featured.length > 0);
    assert.deepEqual(full.body.recentOrders, []);
    const anonymous = await shop.api('/api/storefront/home');
    assert.equal(anonymous.body.recentOrders, null);
    assert.equal(anonymous.body.partial, false);

    const [orders] = await urlsOf('orders');
    await setFault(orders!, { errorRate: 1, from: 'gateway', forMs: 30_000 });
    const partial = await shop.api('/api/storefront/home', { token: customer.token });
    assert.equal(partial.status, 200, partial.text);
    assert.equal(partial.body.partial, true);
    assert.ok(partial.body.categories.length > 0);
    assert.ok(partial.body.featured.length > 0);
    assert.equal(partial.body.recentOrders, null);
    assert.equal(partial.body.missing.length, 1);
    assert.equal(partial.body.missing[0].part, 'recentOrders');
    assert.equal(partial.body.missing[0].service, 'orders');
    await clearFault(orders!);
  });

  it('caches public catalog reads and drops them on catalog events', async () => {
    const product = await newProduct(shop, 5, 1000);
    const first = await shop.api(`/api/catalog/products/${product}`);
    assert.equal(first.headers['x-cache'], 'MISS');
    // The product's creation event may land after the first answer was stored and drop it: ask until it is served from memory.
    let second = first;
    await passes(async () => {
      second = await shop.api(`/api/catalog/products/${product}`);
      assert.equal(second.headers['x-cache'], 'HIT');
    }, 5_000);
    assert.equal(second.body.price.amount, 1000);
    // A client that has this version gets 304 from the cache, as it would from the catalog.
    const etag = String(second.headers['etag'] ?? '');
    assert.match(etag, /^(W\/)?"/, 'the cached answer keeps its ETag');
    const unchanged = await shop.api(`/api/catalog/products/${product}`, { headers: { 'if-none-match': etag } });
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.headers['x-cache'], 'HIT');
    assert.equal(unchanged.headers['etag'], etag);
    assert.equal(unchanged.text, '');
    const stale = await shop.api(`/api/catalog/products/${product}`, { headers: { 'if-none-match': '"some-other-version"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.price.amount, 1000);
    const changed = await shop.api(`/api/catalog/products/${product}`, { method: 'PATCH', token: shop.admin, json: { price: { amount: 1500, currency: 'EUR' } } });
    assert.ok(changed.status < 300, changed.text);
    await passes(async () => {
      const fresh = await shop.api(`/api/catalog/products/${product}`);
      assert.equal(fresh.body.price.amount, 1500);
    }, 5_000);
  });

  it('browsing works while orders is frozen; order history works while every catalog replica is frozen', async (t) => {
    const customer = await newCustomer(shop);
    const product = await newProduct(shop, 5);
    const placed = await placeOrder(shop, customer.token, [{ productId: product, quantity: 1 }]);
    assert.equal(placed.status, 202, placed.text);
    await settled(shop, customer.token, placed.body.id);

    const [ordersPid] = await pidsOf('orders');
    process.kill(ordersPid!, 'SIGSTOP');
    try {
      const browse = await shop.api('/api/catalog/products', { headers: { 'cache-control': 'no-cache' } });
      assert.equal(browse.status, 200);
      const home = await shop.api('/api/storefront/home', { token: customer.token });
      assert.equal(home.status, 200);
      assert.equal(home.body.partial, true);
    } finally {
      process.kill(ordersPid!, 'SIGCONT');
    }

    const catalogPids = await pidsOf('catalog');
    for (const pid of catalogPids) process.kill(pid, 'SIGSTOP');
    try {
      const history = await shop.api('/api/orders', { token: customer.token });
      assert.equal(history.status, 200, history.text);
      assert.equal(history.body.items.length, 1);
      // Placing needs catalog's prices: a clear 503/504, in bounded time, and no order.
      const started = performance.now();
      const refused = await placeOrder(shop, customer.token, [{ productId: product, quantity: 1 }]);
      assert.ok([503, 504].includes(refused.status), refused.text);
      assert.match(refused.body.code, /^UPSTREAM_/);
      t.diagnostic(`placing with catalog frozen: ${refused.status} ${refused.body.code} after ${Math.round(performance.now() - started)} ms`);
      assert.ok(performance.now() - started < 15_000);
      assert.equal((await shop.api('/api/orders', { token: customer.token })).body.total, 1, 'no half-done order');
    } finally {
      for (const pid of catalogPids) process.kill(pid, 'SIGCONT');
    }
  });

  it('a saga participant that is unreachable makes the saga wait, not fail', async () => {
    const customer = await newCustomer(shop);
    const product = await newProduct(shop, 5);
    const [shippingPid] = await pidsOf('shipping');
    process.kill(shippingPid!, 'SIGSTOP');
    let placed: Answer | undefined;
    try {
      // Orders' breaker for catalog may still be open from the test before (catalog was frozen):
      // a client retries on 503 with the same Idempotency-Key, as Retry-After invites.
      const key = randomUUID();
      await passes(async () => {
        placed = await placeOrder(shop, customer.token, [{ productId: product, quantity: 1 }], { card: cards.approve, key });
        assert.equal(placed.status, 202, placed.text);
      }, 15_000);
      await sleep(3_000);
      const waiting = await shop.api(`/api/orders/${placed!.body.id}`, { token: customer.token });
      assert.equal(waiting.body.status, 'PENDING', 'the saga waits for shipping');
    } finally {
      process.kill(shippingPid!, 'SIGCONT');
    }
    const order = await settled(shop, customer.token, placed!.body.id);
    assert.equal(order.status, 'CONFIRMED');
  });
});
