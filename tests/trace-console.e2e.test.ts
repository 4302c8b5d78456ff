/**
 * The trace console's page in a real browser (Debian's Chromium, driven by
 * playwright-core; `CHROMIUM_PATH` to use another, `.ci/run` installs it when
 * missing): it lists what the services exported, draws a trace's waterfall with
 * each span under its parent, and shows a span's attributes. Not skipped without a
 * browser: the page's script is tested nowhere else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTraceConsole } from '@bazaar/runtime/trace-console/server';
import { launchChromium, pageProblems } from './fixtures/browser.ts';

const TRACE = '5b8efff798038103d269b633813fc60c';
const ms = (value: number) => String(BigInt(value) * 1_000_000n);

function exported(service: string, spans: Array<Record<string, unknown>>) {
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans }] }] };
}

const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const span = (spanId: string, name: string, kind: number, start: number, end: number, extra: Record<string, unknown> = {}) => ({
  traceId: TRACE,
  spanId,
  name,
  kind,
  startTimeUnixNano: ms(t0 + start),
  endTimeUnixNano: ms(t0 + end),
  status: {},
  ...extra,
});

describe('the trace console’s page, in Chromium', () => {
  let console_: Awaited<ReturnType<typeof startTraceConsole>>;
  let browser: Browser;

  before(async () => {
    console_ = await startTraceConsole(0);
    console_.store.ingest(
      exported('gateway', [span('a000000000000001', 'POST /api/orders/*', 2, 0, 120, { attributes: [{ key: 'url.path', value: { stringValue: '/api/orders' } }] })]),
    );
    console_.store.ingest(
      exported('orders', [
        span('a000000000000002', 'POST /api/orders', 2, 5, 110, { parentSpanId: 'a000000000000001', attributes: [{ key: 'http.route', value: { stringValue: '/api/orders' } }] }),
        span('a000000000000003', 'publish catalog.reserve-stock.v1', 4, 90, 95, { parentSpanId: 'a000000000000002' }),
      ]),
    );
    console_.store.ingest(exported('catalog', [span('a000000000000004', 'process catalog.reserve-stock.v1', 5, 100, 118, { parentSpanId: 'a000000000000003', status: { code: 2 } })]));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await console_?.close();
  });

  it('lists the trace, draws its waterfall parent by parent, and shows a span’s attributes', async () => {
    const page = await browser.newPage();
    const problems = pageProblems(page);
    await page.goto(console_.url);

    const row = page.locator('tr.trace');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    const cells = await row.first().locator('td').allInnerTexts();
    assert.equal(cells[1], 'POST /api/orders', 'the method and the path the client asked for');
    assert.deepEqual((await row.first().locator('.chip').allInnerTexts()).sort(), ['catalog', 'gateway', 'orders']);
    assert.equal(cells[3], '4');

    await row.first().click();
    const spans = page.locator('.row');
    await spans.first().waitFor();
    const labels = await spans.locator('.label').evaluateAll((nodes) =>
      nodes.map((node) => [node.querySelector('.chip')!.textContent, node.getAttribute('title'), node.querySelector('.kind')!.textContent]),
    );
    assert.deepEqual(labels, [
      ['gateway', 'POST /api/orders/*', 'server'],
      ['orders', 'POST /api/orders', 'server'],
      ['orders', 'publish catalog.reserve-stock.v1', 'producer'],
      ['catalog', 'process catalog.reserve-stock.v1', 'consumer'],
    ]);
    // Each level is indented under its parent.
    const indents = await spans.locator('.label').evaluateAll((nodes) => nodes.map((node) => parseFloat((node as unknown as { style: { paddingLeft: string } }).style.paddingLeft)));
    assert.ok(indents[0]! < indents[1]! && indents[1]! < indents[2]! && indents[2]! < indents[3]!, JSON.stringify(indents));
    assert.equal(await page.locator('.bar.error').count(), 1, 'the failed span is marked');
    assert.match(await page.locator('#detail .meta').innerText(), /120 ms · 4 spans · 1 errors/);
    assert.equal(new URL(page.url()).hash, `#${TRACE}`, 'the trace is in the address, to share');

    await spans.nth(1).click();
    const attributes = await page.locator('#span tr').allInnerTexts();
    assert.ok(attributes.some((line) => /http\.route\s+\/api\/orders/.test(line)), attributes.join(' | '));
    assert.deepEqual(problems, []);
  });
});
