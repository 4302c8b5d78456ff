import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCache, type CachedResponse } from './response-cache.ts';

function answer(overrides: Partial<CachedResponse> = {}): CachedResponse {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"items":[]}'), storedAt: 0, ...overrides };
}

/** A cache on a clock the test moves. */
function cacheAt(options: { ttlMs?: number; maxEntries?: number; maxBodyBytes?: number; prefixes?: string[] } = {}) {
  const clock = { now: 1_000_000 };
  const cache = new ResponseCache({ ttlMs: 60_000, maxEntries: 100, ...options, now: () => clock.now });
  return { cache, clock };
}

/** Stores an answer for `url` and says whether the next request for it is served from the cache. */
function storesAndServes(cache: ResponseCache, response: CachedResponse, url = '/api/catalog/products'): boolean {
  cache.set(cache.keyFor('GET', url, {})!, response);
  return cache.get(cache.keyFor('GET', url, {})!) !== undefined;
}

describe('ResponseCache: which requests are cacheable', () => {
  const { cache } = cacheAt();

  it('caches public GET and HEAD reads of products and categories', () => {
    for (const url of ['/api/catalog/products', '/api/catalog/products?q=lamp&page=2', '/api/catalog/products/5f0c6a5e-7d55-4a7a-9a53-4d1c0d4b2b1e', '/api/catalog/categories', '/api/catalog/categories?x=1']) {
      assert.ok(cache.keyFor('GET', url, {}), `GET ${url}`);
    }
    assert.ok(cache.keyFor('HEAD', '/api/catalog/products', {}));
  });

  it('does not cache other methods', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) assert.equal(cache.keyFor(method, '/api/catalog/products', {}), undefined, method);
  });

  it('does not cache requests with credentials', () => {
    assert.equal(cache.keyFor('GET', '/api/catalog/products', { authorization: 'Bearer abc' }), undefined);
    assert.equal(cache.keyFor('GET', '/api/catalog/products', { cookie: 'session=1' }), undefined);
    assert.equal(cache.keyFor('GET', '/api/catalog/products', { authorization: '' }), undefined, 'even an empty one');
  });

  it('does not cache paths outside the cacheable prefixes', () => {
    for (const url of ['/api/orders', '/api/catalog/productsx', '/api/catalog/products-admin', '/api/catalog', '/api/identity/me', '/', '/api/catalog/categoriesfoo?x=/api/catalog/products']) {
      assert.equal(cache.keyFor('GET', url, {}), undefined, url);
    }
  });

  it('takes other prefixes when told', () => {
    const { cache: custom } = cacheAt({ prefixes: ['/api/shipping/rates'] });
    assert.ok(custom.keyFor('GET', '/api/shipping/rates?to=FR', {}));
    assert.equal(custom.keyFor('GET', '/api/catalog/products', {}), undefined);
  });

  it('keys by method and full URL, query included', () => {
    const keys = new Set([
      cache.keyFor('GET', '/api/catalog/products?page=1', {}),
      cache.keyFor('GET', '/api/catalog/products?page=2', {}),
      cache.keyFor('HEAD', '/api/catalog/products?page=1', {}),
      cache.keyFor('GET', '/api/catalog/products', {}),
    ]);
    assert.equal(keys.size, 4);
    assert.equal(cache.keyFor('GET', '/api/catalog/products?page=1', { accept: 'x' }), cache.keyFor('GET', '/api/catalog/products?page=1', {}));
  });
});

describe('ResponseCache: which answers are stored', () => {
  it('stores a 200 and serves it with its status, headers and body', () => {
    const { cache, clock } = cacheAt();
    const key = cache.keyFor('GET', '/api/catalog/products?q=lamp', {})!;
    assert.equal(cache.get(key), undefined);
    const stored = answer({ headers: { 'content-type': 'application/json', etag: '"v1"', 'cache-control': 'no-cache' }, body: Buffer.from('{"items":[1]}') });
    cache.set(key, stored);
    clock.now += 5;
    const hit = cache.get(cache.keyFor('GET', '/api/catalog/products?q=lamp', {})!);
    assert.ok(hit);
    assert.equal(hit.status, 200);
    assert.deepEqual(hit.headers, stored.headers);
    assert.equal(hit.body.toString(), '{"items":[1]}');
    assert.equal(hit.storedAt, clock.now - 5, "stored at, on the cache's clock");
    assert.deepEqual(cache.stats(), { entries: 1, hits: 1, misses: 1, invalidations: 0 });
  });

  it('does not store answers other than 200', () => {
    const { cache } = cacheAt();
    for (const status of [201, 204, 206, 301, 304, 400, 404, 429, 500, 503]) assert.equal(storesAndServes(cache, answer({ status })), false, String(status));
  });

  it('does not store what Cache-Control keeps private or out of stores', () => {
    const { cache } = cacheAt();
    for (const value of ['no-store', 'private', 'PRIVATE', 'max-age=60, private', 'no-store, max-age=0', 'private="x-user"', 'public,no-store']) {
      assert.equal(storesAndServes(cache, answer({ headers: { 'cache-control': value } })), false, value);
    }
    assert.equal(storesAndServes(cache, answer({ headers: { 'Cache-Control': 'private' } })), false, 'whatever the case of the name');
    assert.equal(storesAndServes(cache, answer({ headers: { 'cache-control': ['public', 'no-store'] } })), false, 'in any of several values');
    for (const value of ['no-cache', 'public, max-age=60', 'max-age=0']) assert.equal(storesAndServes(cache, answer({ headers: { 'cache-control': value } })), true, value);
  });

  it('does not store an answer that sets a cookie or varies on request headers', () => {
    const { cache } = cacheAt();
    assert.equal(storesAndServes(cache, answer({ headers: { 'set-cookie': ['a=1'] } })), false);
    assert.equal(storesAndServes(cache, answer({ headers: { 'set-cookie': 'a=1' } })), false);
    assert.equal(storesAndServes(cache, answer({ headers: { vary: 'Accept-Language' } })), false);
  });

  it('does not store bodies above maxBodyBytes', () => {
    const { cache } = cacheAt({ maxBodyBytes: 10 });
    assert.equal(storesAndServes(cache, answer({ body: Buffer.alloc(11) })), false);
    assert.equal(storesAndServes(cache, answer({ body: Buffer.alloc(10) })), true);
  });
});

describe('ResponseCache: expiry and bounds', () => {
  it('serves an entry until the TTL runs out, not after', () => {
    const { cache, clock } = cacheAt({ ttlMs: 1_000 });
    const key = cache.keyFor('GET', '/api/catalog/categories', {})!;
    cache.set(key, answer());
    clock.now += 999;
    assert.ok(cache.get(key));
    clock.now += 1;
    assert.equal(cache.get(key), undefined);
    assert.equal(cache.stats().entries, 0, 'the expired entry is dropped');
    assert.equal(cache.stats().misses, 1);
  });

  it('keeps at most maxEntries, evicting the least recently used', () => {
    const { cache } = cacheAt({ maxEntries: 3 });
    const key = (n: number) => cache.keyFor('GET', `/api/catalog/products?page=${n}`, {})!;
    for (const n of [1, 2, 3]) cache.set(key(n), answer({ body: Buffer.from(String(n)) }));
    assert.ok(cache.get(key(1)), 'page 1 is now the most recently used');
    cache.set(key(4), answer());
    assert.equal(cache.stats().entries, 3);
    assert.equal(cache.get(key(2)), undefined, 'page 2 was the least recently used');
    assert.ok(cache.get(key(1)));
    assert.ok(cache.get(key(3)));
    assert.ok(cache.get(key(4)));
  });

  it('replaces an entry stored again under the same key', () => {
    const { cache } = cacheAt({ maxEntries: 2 });
    const key = cache.keyFor('GET', '/api/catalog/products', {})!;
    cache.set(key, answer({ body: Buffer.from('old') }));
    cache.set(key, answer({ body: Buffer.from('new') }));
    assert.equal(cache.stats().entries, 1);
    assert.equal(cache.get(key)!.body.toString(), 'new');
  });

  it('refuses nonsensical bounds', () => {
    assert.throws(() => new ResponseCache({ ttlMs: 0, maxEntries: 10 }));
    assert.throws(() => new ResponseCache({ ttlMs: 1_000, maxEntries: 0 }));
  });
});

describe('ResponseCache: invalidation', () => {
  it('drops every entry on a catalog event', () => {
    const { cache } = cacheAt();
    const urls = ['/api/catalog/products', '/api/catalog/products/p1', '/api/catalog/categories'];
    for (const url of urls) cache.set(cache.keyFor('GET', url, {})!, answer());
    assert.equal(cache.stats().entries, 3);
    cache.invalidate('catalog.product-changed p1');
    assert.equal(cache.stats().entries, 0);
    for (const url of urls) assert.equal(cache.get(cache.keyFor('GET', url, {})!), undefined, url);
    assert.equal(cache.stats().invalidations, 1);
  });

  it('drops an answer fetched before an invalidation and stored after it', () => {
    const { cache } = cacheAt();
    // A request misses and goes to the catalog...
    const key = cache.keyFor('GET', '/api/catalog/products/p1', {})!;
    assert.equal(cache.get(key), undefined);
    // ...the product changes while the answer is on its way...
    cache.invalidate('catalog.product-changed p1');
    // ...and the (old) answer arrives.
    cache.set(key, answer({ body: Buffer.from('{"price":10}') }));
    assert.equal(cache.stats().entries, 0);
    assert.equal(cache.get(cache.keyFor('GET', '/api/catalog/products/p1', {})!), undefined);
    // The next request, after the change, is stored.
    assert.equal(storesAndServes(cache, answer({ body: Buffer.from('{"price":12}') }), '/api/catalog/products/p1'), true);
  });

  it('does not serve an entry to a key taken before an invalidation', () => {
    const { cache } = cacheAt();
    const before = cache.keyFor('GET', '/api/catalog/categories', {})!;
    cache.invalidate('catalog.stock-changed p9');
    cache.set(cache.keyFor('GET', '/api/catalog/categories', {})!, answer());
    assert.equal(cache.get(before), undefined);
    cache.set(before, answer());
    assert.equal(cache.stats().entries, 1, 'the late answer did not replace the fresh one');
  });
});
