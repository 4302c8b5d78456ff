import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database, ServiceApp } from '@bazaar/chassis';
import type { TestTokens } from '@bazaar/runtime/testing/tokens';
import { serviceHarness, type ServiceHarness } from '@bazaar/runtime/testing/service-harness';
import { catalogService } from '../app.ts';
import { stockViolations } from '../domain/inventory-model.ts';
import { seedDemoCatalog } from '../persistence/demo-catalog.ts';
import { readLedgers } from '../testing/inventory-ledger.ts';

let app: ServiceApp;
let database: Database;
let tokens: TestTokens;
let adminToken: string;
let customerToken: string;

let harness: ServiceHarness | undefined;
after(() => harness?.close());

before(async () => {
  harness = await serviceHarness(catalogService, { label: 'catalog' });
  ({ app, db: database, tokens } = harness);
  await seedDemoCatalog(database);
  adminToken = await tokens.issue({ roles: ['customer', 'admin'] });
  customerToken = await tokens.issue({ roles: ['customer'] });
});

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe('browsing', () => {
  it('lists the seeded demo catalog in pages', async () => {
    const res = await app.inject({ url: '/api/catalog/products?pageSize=10&page=2' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.ok(body.total >= 50, `expected the demo catalog of 50+, got ${body.total}`);
    assert.equal(body.items.length, 10);
    assert.equal(body.page, 2);
    assert.equal(body.pageSize, 10);
    const product = body.items[0];
    assert.equal(product.available, product.onHand - product.reserved);
    assert.ok(Number.isInteger(product.price.amount));
  });

  it('searches with PostgreSQL full-text search, best match first', async () => {
    const res = await app.inject({ url: '/api/catalog/products?q=espresso' });
    assert.equal(res.statusCode, 200);
    const names = res.json().items.map((p: { name: string }) => p.name);
    assert.equal(names[0], 'Espresso Machine');
    const stemmed = await app.inject({ url: '/api/catalog/products?q=keyboards' });
    assert.ok(stemmed.json().items.some((p: { name: string }) => p.name === 'Mechanical Keyboard'), 'stemming finds singular from plural');
  });

  it('filters by category', async () => {
    const res = await app.inject({ url: '/api/catalog/products?category=kitchen&pageSize=100' });
    const items = res.json().items as Array<{ category: string }>;
    assert.ok(items.length >= 5);
    assert.ok(items.every((p) => p.category === 'kitchen'));
  });

  it('lists categories with product counts', async () => {
    const res = await app.inject({ url: '/api/catalog/categories' });
    const items = res.json().items as Array<{ slug: string; productCount: number }>;
    assert.ok(items.length >= 5);
    assert.ok(items.find((c) => c.slug === 'books')!.productCount >= 5);
  });

  it('answers 304 to a matching If-None-Match and a new ETag after a change', async () => {
    const list = await app.inject({ url: '/api/catalog/products?q=chess' });
    const id = list.json().items[0].id;
    const first = await app.inject({ url: `/api/catalog/products/${id}` });
    const etag = first.headers['etag'] as string;
    assert.match(etag, /^W\/"/);
    const again = await app.inject({ url: `/api/catalog/products/${id}`, headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    await app.inject({ method: 'POST', url: `/api/catalog/products/${id}/stock-adjustments`, headers: auth(adminToken), payload: { delta: 1, reason: 'found one' } });
    const changed = await app.inject({ url: `/api/catalog/products/${id}`, headers: { 'if-none-match': etag } });
    assert.equal(changed.statusCode, 200);
    assert.notEqual(changed.headers['etag'], etag);
  });

  it('rejects bad query parameters and ids with problem+json', async () => {
    for (const url of ['/api/catalog/products?pageSize=1000', '/api/catalog/products?page=0', '/api/catalog/products?bogus=1', '/api/catalog/products/not-a-uuid']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
    const missing = await app.inject({ url: '/api/catalog/products/00000000-0000-4000-8000-000000000000' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'PRODUCT_NOT_FOUND');
  });
});

describe('administration', () => {
  const newProduct = { sku: 'TST-001', name: 'Test Widget', description: 'A widget for tests', price: { amount: 1999, currency: 'EUR' }, category: 'toys', onHand: 5 };

  it('lets an admin create, update and deactivate a product', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: newProduct });
    assert.equal(created.statusCode, 201, created.body);
    const product = created.json();
    assert.equal(created.headers['location'], `/api/catalog/products/${product.id}`);
    assert.deepEqual(product.price, { amount: 1999, currency: 'EUR' });
    assert.equal(product.available, 5);

    const duplicate = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: newProduct });
    assert.equal(duplicate.statusCode, 409);
    assert.equal(duplicate.json().code, 'SKU_TAKEN');

    const renamed = await app.inject({ method: 'PATCH', url: `/api/catalog/products/${product.id}`, headers: { ...auth(adminToken), 'if-match': created.headers['etag'] as string }, payload: { name: 'Renamed Widget' } });
    assert.equal(renamed.statusCode, 200);
    assert.equal(renamed.json().name, 'Renamed Widget');

    const stale = await app.inject({ method: 'PATCH', url: `/api/catalog/products/${product.id}`, headers: { ...auth(adminToken), 'if-match': created.headers['etag'] as string }, payload: { name: 'Lost update' } });
    assert.equal(stale.statusCode, 412);

    const deactivated = await app.inject({ method: 'PATCH', url: `/api/catalog/products/${product.id}`, headers: auth(adminToken), payload: { active: false } });
    assert.equal(deactivated.json().active, false);
    const search = await app.inject({ url: '/api/catalog/products?q=widget' });
    assert.ok(!search.json().items.some((p: { id: string }) => p.id === product.id), 'inactive products are not listed');

    // Every change wrote its event to the outbox, keyed by the product, in order.
    const { rows } = await database.query<{ message_name: string; key: string; body: string }>('SELECT message_name, key, body FROM outbox WHERE key = $1 ORDER BY outbox.seq', [product.id]);
    assert.deepEqual(rows.map((r) => r.message_name), ['catalog.product-changed.v1', 'catalog.stock-changed.v1', 'catalog.product-changed.v1', 'catalog.product-changed.v1']);
    const events = rows.map((r) => JSON.parse(r.body).data);
    assert.deepEqual([events[0].change, events[0].version, events[2].name, events[3].active], ['created', 1, 'Renamed Widget', false]);
    assert.deepEqual([events[1].onHand, events[1].available, events[1].reason], [5, 5, 'initial stock']);
  });

  it('refuses mass assignment, unknown categories and customers', async () => {
    const extra = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: { ...newProduct, sku: 'TST-002', reserved: 99 } });
    assert.equal(extra.statusCode, 400);
    const unknownCategory = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: { ...newProduct, sku: 'TST-003', category: 'nope' } });
    assert.equal(unknownCategory.statusCode, 422);
    assert.equal(unknownCategory.json().code, 'CATEGORY_NOT_FOUND');
    const float = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: { ...newProduct, sku: 'TST-004', price: { amount: 19.99, currency: 'EUR' } } });
    assert.equal(float.statusCode, 400, 'money is integer minor units');
    const customer = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(customerToken), payload: { ...newProduct, sku: 'TST-005' } });
    assert.equal(customer.statusCode, 403);
    assert.equal(customer.json().code, 'FORBIDDEN');
    const anonymous = await app.inject({ method: 'POST', url: '/api/catalog/products', payload: { ...newProduct, sku: 'TST-006' } });
    assert.equal(anonymous.statusCode, 401);
  });

  it('never lets stock go negative, even under concurrent adjustments', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: { ...newProduct, sku: 'TST-010', onHand: 10 } });
    const id = created.json().id;
    const removals = await Promise.all(
      Array.from({ length: 25 }, () => app.inject({ method: 'POST', url: `/api/catalog/products/${id}/stock-adjustments`, headers: auth(adminToken), payload: { delta: -1, reason: 'sold elsewhere' } })),
    );
    const ok = removals.filter((r) => r.statusCode === 200).length;
    const refused = removals.filter((r) => r.statusCode === 409 && r.json().code === 'INSUFFICIENT_STOCK').length;
    assert.equal(ok, 10);
    assert.equal(refused, 15);
    const after = await app.inject({ url: `/api/catalog/products/${id}` });
    assert.equal(after.json().onHand, 0);
    const zero = await app.inject({ method: 'POST', url: `/api/catalog/products/${id}/stock-adjustments`, headers: auth(adminToken), payload: { delta: 0, reason: 'nothing' } });
    assert.equal(zero.statusCode, 400);
  });
});

describe('looking products up by id', () => {
  /** Ids of the first `n` demo products, by name. */
  async function someIds(n: number): Promise<string[]> {
    const res = await app.inject({ url: `/api/catalog/products?pageSize=${n}` });
    return res.json().items.map((p: { id: string }) => p.id);
  }

  it('answers just the products asked for, all in one page, whatever the page size', async () => {
    const ids = await someIds(30);
    const res = await app.inject({ url: `/api/catalog/products?ids=${ids.join(',')}` });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.total, 30);
    assert.equal(body.items.length, 30, 'more than the default page size of 20');
    assert.deepEqual(new Set(body.items.map((p: { id: string }) => p.id)), new Set(ids));
    const two = await app.inject({ url: `/api/catalog/products?ids=${ids[3]},${ids[7]!.toUpperCase()},${ids[3]}` });
    assert.deepEqual(
      two.json().items.map((p: { id: string }) => p.id).sort(),
      [ids[3], ids[7]].sort(),
      'repeated and upper-case ids are the same products',
    );
  });

  it('leaves out unknown and inactive products, as the public listing does', async () => {
    const [kept, withdrawn] = await someIds(2);
    await app.inject({ method: 'PATCH', url: `/api/catalog/products/${withdrawn}`, headers: auth(adminToken), payload: { active: false } });
    const res = await app.inject({ url: `/api/catalog/products?ids=${kept},${withdrawn},00000000-0000-4000-8000-000000000000` });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      res.json().items.map((p: { id: string }) => p.id),
      [kept],
    );
    await app.inject({ method: 'PATCH', url: `/api/catalog/products/${withdrawn}`, headers: auth(adminToken), payload: { active: true } });
  });

  it('combines with the other filters', async () => {
    const ids = await someIds(50);
    const res = await app.inject({ url: `/api/catalog/products?category=books&ids=${ids.join(',')}&pageSize=100` });
    const items = res.json().items as Array<{ category: string; id: string }>;
    assert.ok(items.length > 0);
    assert.ok(items.every((p) => p.category === 'books' && ids.includes(p.id)));
  });

  it('rejects garbage ids and more than 50 of them with problem+json 400', async () => {
    const [id] = await someIds(1);
    const fiftyOne = Array.from({ length: 51 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join(',');
    const bad = ['abc', '', `${id},`, `,${id}`, `${id},abc`, `${id};${id}`, `'${id}'`, "1' OR '1'='1", `${id}x`, fiftyOne, 'x'.repeat(5000)];
    for (const ids of bad) {
      const res = await app.inject({ url: `/api/catalog/products?ids=${encodeURIComponent(ids)}` });
      assert.equal(res.statusCode, 400, `ids=${ids.slice(0, 60)}: ${res.body}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
    const repeated = await app.inject({ url: `/api/catalog/products?ids=${id}&ids=${id}` });
    assert.equal(repeated.statusCode, 400, 'ids is one comma-separated parameter');
  });
});

describe('stock accounting', () => {
  it('receives every unit through a stock adjustment: seeded, created with stock, or adjusted', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/catalog/products',
      headers: auth(adminToken),
      payload: { sku: 'TST-100', name: 'Counted Widget', price: { amount: 500, currency: 'EUR' }, category: 'toys', onHand: 7 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    const empty = await app.inject({ method: 'POST', url: '/api/catalog/products', headers: auth(adminToken), payload: { sku: 'TST-101', name: 'Empty Widget', price: { amount: 500, currency: 'EUR' }, category: 'toys' } });
    assert.equal(empty.statusCode, 201, empty.body);
    await app.inject({ method: 'POST', url: `/api/catalog/products/${id}/stock-adjustments`, headers: auth(adminToken), payload: { delta: -2, reason: 'broken' } });
    const ledgers = await readLedgers(database);
    assert.ok(ledgers.size >= 50, 'the demo catalog is counted too');
    assert.deepEqual(ledgers.get(id), { onHand: 5, reserved: 0, sold: 0, received: 5, held: 0, committed: 0 });
    assert.equal(ledgers.get(empty.json().id)!.received, 0);
    for (const [product, ledger] of ledgers) assert.deepEqual(stockViolations(ledger), [], `product ${product}: ${JSON.stringify(ledger)}`);
  });
});
