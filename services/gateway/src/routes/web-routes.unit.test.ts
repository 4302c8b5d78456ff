import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isServedFile, isWebAsset, prefersHtml, productImage } from './web-routes.ts';

describe('the web app’s routes', () => {
  it('takes a request for a page when it names HTML before any JSON', () => {
    assert.equal(prefersHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), true, 'a browser navigating');
    assert.equal(prefersHtml('application/xhtml+xml'), true);
    assert.equal(prefersHtml('TEXT/HTML; charset=utf-8'), true);
    assert.equal(prefersHtml(undefined), false, 'no Accept: an API client');
    assert.equal(prefersHtml('*/*'), false, 'curl');
    assert.equal(prefersHtml('application/json'), false);
    assert.equal(prefersHtml('application/json, text/html'), false, 'JSON first');
  });

  it('knows which paths are its own files', () => {
    assert.equal(isWebAsset('/app/main.js'), true);
    assert.equal(isWebAsset('/images/products/boo-001.svg'), true);
    assert.equal(isWebAsset('/api/catalog/products'), false);
    assert.equal(isWebAsset('/'), false, 'the page at / shares the rate limit with the API index it also is');
    assert.equal(isWebAsset('/application'), false);
  });

  it('serves the page’s modules, stylesheet and page, not its tests or configuration', () => {
    for (const path of ['/main.js', '/lib/sse.js', '/views/order.js', '/styles.css', '/index.html']) assert.equal(isServedFile(path), true, path);
    for (const path of ['/lib/sse.unit.test.ts', '/lib/format.unit.test.ts', '/tsconfig.json', '/lib/sse.js.map', '/.hidden', '/views/', '/README.md']) assert.equal(isServedFile(path), false, path);
  });

  it('draws a SKU as an SVG whose colour depends on the SKU only', () => {
    const a = productImage('ele-005');
    assert.match(a, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(a, />ELE</);
    assert.match(a, />005</);
    assert.equal(productImage('ele-005'), a);
    assert.notEqual(productImage('ele-006').match(/hsl\(\d+/)?.[0], undefined);
  });
});
