/**
 * The web app in a real browser (Debian's Chromium via playwright-core) against
 * the running system (`npm start`'s launcher, every service its own process):
 * a visitor browses and searches, a customer registers, fills a cart, checks out
 * and watches the order confirm — or be cancelled with its reason — without
 * reloading, and an admin sees the saga behind an order, the registry and the
 * stock. The page's modules are tested nowhere else; no step is skipped without
 * a browser.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { clearFault, faultStatus, setFault } from '@bazaar/chassis/faults';
import { freePort } from '@bazaar/runtime/ports';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { startSystem, stopSystem, type RunningSystem } from '@bazaar/runtime/testing/launcher';
import { launchChromium, pageProblems } from './fixtures/browser.ts';
import { cards } from './fixtures/checkout.ts';

const SETTLE_MS = 60_000;

describe('the storefront, in Chromium', () => {
  let system: RunningSystem;
  let stateDir: string;
  let browser: Browser;
  const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };
  const customer = { name: 'Grace Hopper', email: `grace-${randomBytes(4).toString('hex')}@bazaar.test`, password: 'cobol-compiler-1959' };
  let confirmedOrder: string;

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'bazaar-e2e-storefront-'));
    // With the local trace console, as `npm start` runs by default: the order page links to the checkout's trace.
    system = await startSystem(stateDir, await freePort(), { env: { BAZAAR_ADMIN_EMAIL: admin.email, BAZAAR_ADMIN_PASSWORD: admin.password, BAZAAR_TRACE_CONSOLE: 'on' } });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (system) await stopSystem(system);
    await rm(stateDir, { recursive: true, force: true });
  });

  /** A fresh browser profile (its own storage) on the gateway's page. */
  async function open(path = '/'): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ baseURL: system.gateway });
    const page = await context.newPage();
    const problems = pageProblems(page);
    await page.goto(path);
    return { page, problems };
  }

  async function signIn(page: Page, who: { email: string; password: string }) {
    await page.goto('/#/signin');
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function addToCart(page: Page, search: string, name: string, quantity: number) {
    await page.getByRole('searchbox', { name: 'Search products' }).fill(search);
    await page.getByRole('searchbox', { name: 'Search products' }).press('Enter');
    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    await page.getByLabel('Quantity').fill(String(quantity));
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByText(`${quantity} × ${name} added to the cart.`).waitFor();
  }

  async function checkOut(page: Page, card: string, country = 'DE'): Promise<string> {
    await page.goto('/#/checkout');
    await page.getByLabel('Address', { exact: true }).fill('1 Navy Yard');
    await page.getByLabel('City').fill('Arlington');
    await page.getByLabel('Postal code').fill('22202');
    await page.getByLabel('Country (2 letters)').fill(country);
    await page.getByLabel('Card number').fill(card);
    await page.getByRole('button', { name: /^Place order/ }).click();
    await page.waitForURL(/#\/orders\/[0-9a-f-]{36}$/);
    return page.url().split('/').pop()!;
  }

  it('serves the page to a browser under a CSP that admits only its own scripts, and JSON to API clients', async () => {
    const page = await fetch(`${system.gateway}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
    assert.match(await page.text(), /<script type="module" src="\/app\/main\.js">/);
    const index = await fetch(`${system.gateway}/`, { headers: { accept: 'application/json' } });
    assert.equal(index.status, 200);
    assert.equal(((await index.json()) as { docs: string }).docs, '/docs');
  });

  it('a visitor browses the home page, a category and a search, and opens a product with its picture', async () => {
    const { page, problems } = await open();
    await page.getByRole('heading', { name: 'Featured' }).waitFor();
    assert.equal(await page.locator('article.product').count(), 8, 'the storefront aggregation’s featured products');
    await page.getByRole('navigation', { name: 'Categories' }).getByRole('link', { name: 'Books' }).click();
    await page.getByRole('heading', { name: 'Books', level: 1 }).waitFor();
    assert.equal(await page.getByTestId('result-count').innerText(), '7 products');

    await page.getByRole('searchbox', { name: 'Search products' }).fill('keyboard');
    await page.getByRole('searchbox', { name: 'Search products' }).press('Enter');
    await page.getByRole('heading', { name: 'Results for “keyboard”' }).waitFor();
    assert.deepEqual(await page.locator('article.product h3').allInnerTexts(), ['Mechanical Keyboard']);

    await page.getByRole('link', { name: 'Mechanical Keyboard' }).click();
    await page.getByRole('heading', { name: 'Mechanical Keyboard', level: 1 }).waitFor();
    assert.match(await page.locator('.price.large').innerText(), /€129\.00/);
    const picture = page.locator('.detail img');
    await picture.waitFor();
    // The page's image, as the browser decoded it (typed structurally: these tests compile without the DOM library).
    const width = await picture.evaluate((img) => {
      const image = img as unknown as { decode(): Promise<void>; naturalWidth: number };
      return image.decode().then(() => image.naturalWidth);
    });
    assert.ok(width > 0, 'the product picture loads');
    assert.deepEqual(problems, []);
  });

  it('a customer registers, fills a cart, checks out and watches the order confirm without reloading', async () => {
    const { page, problems } = await open('/#/register');
    await page.getByLabel('Name').fill(customer.name);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await addToCart(page, 'keyboard', 'Mechanical Keyboard', 2);
    await addToCart(page, 'mouse', 'Wireless Mouse', 1);
    assert.equal(await page.getByTestId('cart-count').innerText(), '3');
    await page.getByRole('link', { name: /^Cart/ }).click();
    assert.equal(await page.getByTestId('cart-total').innerText(), '€297.00', '2 × 129.00 + 39.00');

    await page.evaluate(() => ((globalThis as unknown as { sameDocument?: boolean }).sameDocument = true));
    confirmedOrder = await checkOut(page, cards.approve);
    await page.getByTestId('status').getByText('CONFIRMED').waitFor({ timeout: SETTLE_MS });
    assert.equal(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument), true, 'the status changed in place: no reload');
    assert.match(await page.getByTestId('tracking').innerText(), /^BZ/);
    const timeline = await page.getByTestId('timeline').innerText();
    assert.match(timeline, /placed/i);
    assert.match(timeline, /confirmed/i);
    assert.equal(await page.getByTestId('cart-count').count(), 0, 'the cart is empty after the order');

    // The checkout's trace in the trace console: the placement and the saga's messages, across the services.
    const [consolePage] = await Promise.all([page.context().waitForEvent('page'), page.getByTestId('trace-link').click()]);
    const expected = ['catalog', 'gateway', 'orders', 'payments', 'shipping'];
    let seen: string[] = [];
    for (const deadline = Date.now() + 30_000; ; ) {
      await consolePage.waitForLoadState();
      const rows = consolePage.locator('#detail .row .label .chip');
      await rows.first().waitFor({ timeout: 2_000 }).catch(() => {}); // not exported yet: reload below
      seen = [...new Set(await rows.allInnerTexts())].sort();
      if (expected.every((service) => seen.includes(service))) break;
      assert.ok(Date.now() < deadline, `the checkout's trace spans ${seen.join(', ')}; expected ${expected.join(', ')}`);
      await consolePage.waitForTimeout(1_000); // services export every second
      await consolePage.reload();
    }
    await consolePage.close();

    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await page.getByRole('link', { name: confirmedOrder.slice(0, 8) }).waitFor();
    // The confirmation message arrives through the broker; the inbox shows it once it has.
    await page.goto('/#/inbox');
    for (const deadline = Date.now() + 20_000; ; ) {
      await page.getByRole('heading', { name: 'Inbox' }).waitFor();
      if ((await page.getByTestId('message').allInnerTexts()).some((text) => /confirmed/i.test(text))) break;
      assert.ok(Date.now() < deadline, `no confirmation in the inbox: ${await page.locator('main').innerText()}`);
      await page.waitForTimeout(500);
      await page.reload();
    }
    // Unread messages are counted in the menu, and one fewer once one is marked read.
    const unread = Number(await page.getByTestId('unread-count').innerText());
    assert.equal(unread, await page.locator('li.unread').count());
    await page.locator('li.unread').first().getByRole('button', { name: 'Mark read' }).click();
    await page.locator('li.unread').nth(unread - 1).waitFor({ state: 'detached' });
    if (unread === 1) await page.getByTestId('unread-count').waitFor({ state: 'detached' });
    else await page.getByTestId('unread-count').getByText(String(unread - 1), { exact: true }).waitFor();
    assert.deepEqual(problems, []);
  });

  it('a declined card ends the order CANCELLED with its reason on the page, and the stock back', async () => {
    const { page, problems } = await open();
    await signIn(page, customer);
    const lamp = async () => {
      const found = (await (await fetch(`${system.gateway}/api/catalog/products?q=desk+lamp`)).json()) as { items: Array<{ name: string; available: number }> };
      return found.items[0]!;
    };
    const before = await lamp();
    assert.equal(before.name, 'Desk Lamp');
    await addToCart(page, 'lamp', 'Desk Lamp', 2);
    await page.goto('/#/checkout');
    assert.equal(await page.getByLabel('Address', { exact: true }).inputValue(), '1 Navy Yard', 'the first order’s address, saved to the account, comes first');
    assert.equal(await page.getByLabel('Save this address to my account').isChecked(), false, 'an account with addresses saves a new one only when asked');
    await checkOut(page, cards.decline);
    await page.getByTestId('status').getByText('CANCELLED').waitFor({ timeout: SETTLE_MS });
    assert.match(await page.getByTestId('reason').innerText(), /CARD_DECLINED/);
    assert.equal((await lamp()).available, before.available, 'the reservation released');
    assert.deepEqual(problems, []);
  });

  it('renews an expired access token with the refresh token, and signs the tab out when the refresh token was already used', async () => {
    const { page, problems } = await open();
    await signIn(page, customer);
    type Tokens = { accessToken: string; refreshToken: string };
    // The page's sessionStorage, typed structurally (these tests compile without the DOM library).
    const stored = () => page.evaluate(() => JSON.parse((globalThis as unknown as { sessionStorage: { getItem(key: string): string } }).sessionStorage.getItem('bazaar.session')) as Tokens);
    const store = (tokens: Tokens) =>
      page.evaluate((next) => {
        const storage = (globalThis as unknown as { sessionStorage: { getItem(key: string): string; setItem(key: string, value: string): void } }).sessionStorage;
        storage.setItem('bazaar.session', JSON.stringify({ ...JSON.parse(storage.getItem('bazaar.session')), ...next }));
      }, tokens);
    const signedIn = await stored();
    const unusable = `${signedIn.accessToken.slice(0, -6)}AAAAAA`;
    await store({ ...signedIn, accessToken: unusable });

    await page.goto('/#/orders');
    // The orders page draws its heading with its list, after the call (the home page before it lists orders too).
    await page.getByRole('heading', { name: 'Your orders' }).waitFor();
    await page.getByRole('link', { name: confirmedOrder.slice(0, 8) }).waitFor();
    const renewed = await stored();
    assert.notEqual(renewed.accessToken, unusable, 'a new access token');
    assert.notEqual(renewed.refreshToken, signedIn.refreshToken, 'the refresh token rotated');

    // The first refresh token again: identity takes reuse for theft and revokes the whole family.
    await store({ accessToken: unusable, refreshToken: signedIn.refreshToken });
    await page.goto('/#/inbox');
    // Which call learns it first (the page's, or the menu's unread count) decides the wording's place, not the message.
    await page.getByText(/Your session has ended\./).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('bazaar.session')), null, 'the tab forgot the tokens');
    assert.deepEqual(problems.filter((problem) => !problem.includes('status of 401')), [], 'nothing but the refused calls');
  });

  it('follows an order through orders being SIGKILLed mid-checkout: the page reconnects and shows it confirmed', async () => {
    const { page, problems } = await open();
    await signIn(page, customer);
    await addToCart(page, 'headphones', 'Noise-Cancelling Headphones', 1);
    const killed = system.instances.orders?.[0]?.pid;
    assert.ok(killed, 'the orders process');
    // The slow card keeps the saga at authorization for 3 s: time to kill the orchestrator.
    await page.evaluate(() => ((globalThis as unknown as { sameDocument?: boolean }).sameDocument = true));
    const id = await checkOut(page, cards.slow);
    await page.getByTestId('status').getByText('PENDING').waitFor();
    process.kill(killed, 'SIGKILL');
    await page.getByTestId('reconnecting').waitFor({ timeout: 20_000 });
    await page.getByTestId('status').getByText('CONFIRMED').waitFor({ timeout: SETTLE_MS });
    assert.equal(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument), true, 'no reload');
    assert.equal(await page.getByTestId('reconnecting').count(), 0, 'live again');
    assert.equal(page.url().split('/').pop(), id);
    // The gateway's answers while orders was down (502, 503, 504) are the only errors.
    assert.deepEqual(problems.filter((problem) => !/status of 50[234]/.test(problem) && !/ERR_INCOMPLETE_CHUNKED_ENCODING|network error/i.test(problem)), []);
  });

  it('keeps the shop open while orders fails, and says what is missing', async () => {
    const orders = (await readRuntimeFile(stateDir))?.instances.orders?.[0]?.url;
    assert.ok(orders, 'the orders instance');
    const { page, problems } = await open();
    await signIn(page, customer);
    await page.getByRole('heading', { name: 'Your recent orders' }).waitFor();
    await setFault(orders, { errorRate: 1, from: 'gateway', forMs: 60_000 });
    try {
      await page.goto('/#/products');
      await page.goto('/#/');
      await page.getByText(/Part of the store is unavailable right now \(orders: /).waitFor();
      assert.equal(await page.locator('article.product').count(), 8, 'the products still show');
      await page.getByText('Your orders cannot be shown right now.').waitFor();
      await page.goto('/#/orders');
      await page.getByRole('heading', { name: 'Something went wrong' }).waitFor();
      assert.match(await page.locator('main').innerText(), /\[(UPSTREAM_UNAVAILABLE|UPSTREAM_CIRCUIT_OPEN|SERVICE_UNAVAILABLE)\]/, 'the failure as the gateway named it');
      await addToCart(page, 'mouse', 'Wireless Mouse', 1);
    } finally {
      await clearFault(orders);
    }
    assert.deepEqual(problems.filter((problem) => !/status of 50[23]/.test(problem)), [], 'nothing but the failed calls');
  });

  it('an admin sees the saga behind an order, every service in the registry, and adjusts stock', async () => {
    const { page, problems } = await open();
    await signIn(page, admin);
    await page.goto(`/#/orders/${confirmedOrder}`);
    const saga = page.getByTestId('saga');
    await saga.waitFor();
    const steps = await saga.locator('tbody tr').allInnerTexts();
    for (const step of ['reserve-stock', 'authorize-payment', 'create-shipment', 'capture-payment']) assert.ok(steps.some((row) => row.includes(step)), `${step} in ${steps.join(' | ')}`);

    await page.getByRole('link', { name: 'Operations' }).click();
    const registry = page.getByTestId('registry');
    await registry.waitFor();
    const services = await registry.locator('tbody tr[data-service] td:first-child').allInnerTexts();
    for (const service of ['identity', 'catalog', 'orders', 'payments', 'shipping', 'notifications']) assert.ok(services.includes(service), `${service} in ${services.join(', ')}`);
    assert.ok((await registry.locator('.probe.ready').count()) >= 6, 'every instance answers its readiness probe');
    // Every customer's orders, by status.
    const orders = page.getByTestId('all-orders');
    await orders.getByRole('link', { name: confirmedOrder.slice(0, 8) }).waitFor();
    await page.getByRole('navigation', { name: 'Order status' }).getByRole('link', { name: 'CANCELLED' }).click();
    await orders.locator('caption').getByText(/ cancelled, newest first$/).waitFor();
    assert.equal(await orders.getByRole('link', { name: confirmedOrder.slice(0, 8) }).count(), 0, 'the confirmed order is not among the cancelled');
    assert.ok((await orders.locator('tbody tr').count()) >= 1, 'the declined order is');

    await page.getByRole('searchbox', { name: 'Search products' }).fill('keyboard');
    await page.getByRole('searchbox', { name: 'Search products' }).press('Enter');
    await page.getByRole('link', { name: 'Mechanical Keyboard' }).click();
    const stock = page.getByTestId('stock');
    assert.equal(await stock.innerText(), 'On hand 23, reserved 0, available 23.', 'two sold to the customer above');
    await page.getByLabel('Units to add or remove').fill('5');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await page.getByText('On hand 28, reserved 0, available 28.').waitFor();
    await page.getByLabel('Units to add or remove').fill('-1000');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await page.getByText(/INSUFFICIENT_STOCK/).waitFor();
    await page.getByText('On hand 28, reserved 0, available 28.').waitFor();
    assert.deepEqual(problems.filter((problem) => !problem.includes('status of 409')), [], 'nothing but the refused adjustment');
  });

  it('an admin breaks orders on purpose from the Operations page, watches it fail, and ends the fault', async () => {
    const orders = (await readRuntimeFile(stateDir))?.instances.orders?.[0]?.url;
    assert.ok(orders, 'the orders instance');
    const { page, problems } = await open();
    await signIn(page, admin);
    await page.goto('/#/admin');
    const faults = page.getByTestId('fault-table');
    await faults.waitFor();
    assert.match(await faults.locator('tr[data-service="orders"]').innerText(), /none/);

    // A fault that does nothing is refused, with the reason the API gives.
    const form = page.getByTestId('break-form');
    await form.getByLabel('Service').selectOption('orders');
    await form.getByRole('button', { name: 'Break it' }).click();
    await page.getByText(/the fault does nothing/).waitFor();
    assert.equal((await faultStatus(orders)).fault, null);

    await form.getByLabel('Errors (%)').fill('100');
    await form.getByLabel('Only calls from').selectOption('gateway');
    await form.getByLabel('For (seconds)').fill('60');
    await form.getByRole('button', { name: 'Break it' }).click();
    await page.getByText('orders: 100 % errors (503), from gateway on 1 instance for 60 s.').waitFor();
    assert.deepEqual((await faultStatus(orders)).fault, { errorRate: 1, errorStatus: 503, from: 'gateway', forMs: 60_000 }, 'the orders process holds the fault');
    try {
      await faults.locator('tr[data-service="orders"]').getByText('100 % errors (503), from gateway').waitFor();
      // The page itself lists every customer's orders through the gateway: that part now fails, the rest stands.
      await page.getByText(/Orders cannot be listed: /).waitFor();
      await page.goto('/#/orders');
      await page.getByRole('heading', { name: 'Something went wrong' }).waitFor();

      await page.goto('/#/admin');
      const row = faults.locator('tr[data-service="orders"]');
      await row.getByText('100 % errors (503), from gateway').waitFor();
      const matched = Number(await row.locator('td').nth(4).innerText());
      assert.ok(matched >= 2, `the counters show the refused calls (matched ${matched})`);
      await row.getByRole('button', { name: 'End' }).click();
      await page.getByText('orders: fault ended.').waitFor();
      await faults.locator('tr[data-service="orders"]').getByText('none').waitFor();
    } finally {
      await clearFault(orders);
    }
    assert.equal((await faultStatus(orders)).fault, null);
    await page.goto('/#/orders');
    await page.getByRole('heading', { name: 'Your orders' }).waitFor();
    assert.deepEqual(problems.filter((problem) => !/status of (400|50[23])/.test(problem)), [], 'nothing but the refused fault and the failed calls');
  });

  it('an admin creates a product, edits it unless someone else changed it first, and takes it off sale', async () => {
    const { page, problems } = await open();
    await signIn(page, admin);
    await page.goto('/#/products');
    await page.getByRole('link', { name: 'New product' }).click();
    await page.getByLabel('SKU').fill('TST-501');
    await page.getByLabel('Name').fill('Analytical Engine Model');
    await page.getByLabel('Description').fill('A brass model of Babbage’s engine.');
    await page.getByLabel('Price', { exact: true }).fill('249.9');
    assert.equal(await page.getByLabel('Currency (ISO 4217)').inputValue(), 'EUR', 'euros unless told otherwise');
    await page.getByLabel('Category').selectOption('home');
    await page.getByLabel('Stock on hand').fill('4');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('heading', { name: 'Analytical Engine Model', level: 1 }).waitFor();
    assert.equal(await page.locator('.price.large').innerText(), '€249.90');
    assert.equal(await page.getByTestId('stock').innerText(), 'On hand 4, reserved 0, available 4.');
    const id = page.url().split('/').pop()!;

    // Someone else renames it while this page shows version 1: saving is refused, not a lost update.
    const login = await (await fetch(`${system.gateway}/api/identity/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin) })).json() as { accessToken: string };
    const elsewhere = await fetch(`${system.gateway}/api/catalog/products/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${login.accessToken}` }, body: JSON.stringify({ name: 'Difference Engine Model' }) });
    assert.equal(elsewhere.status, 200);
    await page.getByLabel('Price (EUR)').fill('199');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/PRECONDITION_FAILED/).waitFor();

    await page.reload();
    await page.getByRole('heading', { name: 'Difference Engine Model', level: 1 }).waitFor();
    await page.getByLabel('Price (EUR)').fill('199');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Product saved.').waitFor();
    assert.equal(await page.locator('.price.large').innerText(), '€199.00');

    await page.getByLabel(/On sale/).uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('off-sale').waitFor();
    await page.getByText('Product saved.').waitFor();
    const found = (await (await fetch(`${system.gateway}/api/catalog/products?q=engine+model`, { headers: { 'cache-control': 'no-cache' } })).json()) as { total: number };
    assert.equal(found.total, 0, 'off sale: not in the shop');
    await page.getByTestId('off-sale').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Add to cart' }).isDisabled(), true, 'and not to be bought from its page');

    // A price is read in its currency's own minor units: a yen has none.
    await page.goto('/#/admin/products/new');
    await page.getByLabel('SKU').fill('TST-502');
    await page.getByLabel('Name').fill('Soroban');
    await page.getByLabel('Price', { exact: true }).fill('12.5');
    await page.getByLabel('Currency (ISO 4217)').fill('jpy');
    await page.getByLabel('Category').selectOption('home');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByText('A price in JPY is a whole number').waitFor();
    await page.getByLabel('Price', { exact: true }).fill('1250');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('heading', { name: 'Soroban', level: 1 }).waitFor();
    assert.equal(await page.locator('.price.large').innerText(), '¥1,250');
    assert.equal(await page.getByLabel('Price (JPY)').inputValue(), '1250', 'edited as typed, not as hundredths');
    assert.deepEqual(problems.filter((problem) => !problem.includes('status of 412')), [], 'nothing but the refused save');
  });
});
