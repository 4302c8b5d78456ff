import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { luhnCheckDigit } from '../domain/card.ts';
import { auth, command, handle, newCustomer, paymentsHarness, tokenize, type Customer, type Harness } from '../testing/harness.ts';

let harness: Harness;
after(() => harness?.close());
before(async () => {
  harness = await paymentsHarness('payments_routes');
});

const thisYear = new Date().getUTCFullYear();
const thisMonth = new Date().getUTCMonth() + 1;
const problemJson = 'application/problem+json; charset=utf-8';

function postCard(token: string, payload: unknown) {
  return harness.app.inject({ method: 'POST', url: '/api/payments/tokens', headers: auth(token), payload: payload as Record<string, unknown> });
}

const card = (cardNumber: string, extra: Record<string, unknown> = {}) => ({ cardNumber, expMonth: 12, expYear: thisYear + 2, cvc: '123', ...extra });

/** A Luhn-valid number no other test uses, so finding it anywhere can only mean it was kept. */
function uniqueCardNumber(): string {
  const payload = `4${Array.from({ length: 14 }, () => randomInt(10)).join('')}`;
  return payload + luhnCheckDigit(payload);
}

/** Authorizes `amount` for a new order of `customer` (through the handler) and answers the order id. */
async function paidOrder(customer: Customer, amount: number, cardNumber = '4242424242424242'): Promise<string> {
  const orderId = randomUUID();
  const paymentToken = await tokenize(harness, customer, cardNumber);
  await handle(harness, command('payments.authorize-payment.v1', { orderId, customerId: customer.userId, amount: { amount, currency: 'EUR' }, paymentToken }));
  return orderId;
}

async function list(token: string, query = ''): Promise<{ items: Array<Record<string, unknown>>; total: number; page: number; pageSize: number }> {
  const res = await harness.app.inject({ url: `/api/payments${query}`, headers: auth(token) });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

describe('tokenizing a card', () => {
  it('answers an opaque token with brand, last four and expiry', async () => {
    const customer = await newCustomer(harness);
    const res = await postCard(customer.token, card('4242 4242 4242 4242', { expMonth: 3, expYear: thisYear + 4 }));
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.match(body.token, /^pm_[A-Za-z0-9_-]{24}$/);
    assert.deepEqual({ ...body, token: undefined }, { token: undefined, brand: 'visa', last4: '4242', expMonth: 3, expYear: thisYear + 4 });
    const again = await postCard(customer.token, card('4242424242424242'));
    assert.notEqual(again.json().token, body.token, 'every tokenization gets its own token');
  });

  it('tells the brand of other networks', async () => {
    const customer = await newCustomer(harness);
    for (const [number, brand, last4] of [
      ['3782 822463 10005', 'amex', '0005'],
      ['5555 5555 5555 4444', 'mastercard', '4444'],
      ['2223 0031 2200 3222', 'mastercard', '3222'],
      ['6011 1111 1111 1117', 'unknown', '1117'],
    ]) {
      const res = await postCard(customer.token, card(number!));
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().brand, brand, number);
      assert.equal(res.json().last4, last4, number);
    }
  });

  it('accepts a card through the end of its expiry month', async () => {
    const customer = await newCustomer(harness);
    const res = await postCard(customer.token, card('4242424242424242', { expMonth: thisMonth, expYear: thisYear }));
    assert.equal(res.statusCode, 201, res.body);
  });

  it('refuses a number that fails the Luhn check or is not a card number (422 CARD_INVALID), without repeating it', async () => {
    const customer = await newCustomer(harness);
    for (const number of ['4242 4242 4242 4241', '4242', '4'.repeat(20), 'four two four two', '4242-4242-4242-4242', '            ', '١٢٣٤٥٦٧٨٩٠١٢']) {
      const res = await postCard(customer.token, card(number));
      assert.equal(res.statusCode, 422, `${number}: ${res.body}`);
      assert.equal(res.headers['content-type'], problemJson);
      assert.equal(res.json().code, 'CARD_INVALID');
      assert.ok(!res.body.includes(number.replaceAll(' ', '')) || number.trim() === '', 'the answer does not repeat the number');
    }
  });

  it('refuses an expired card (422 CARD_EXPIRED)', async () => {
    const customer = await newCustomer(harness);
    const lastMonth = thisMonth === 1 ? { expMonth: 12, expYear: thisYear - 1 } : { expMonth: thisMonth - 1, expYear: thisYear };
    for (const expiry of [lastMonth, { expMonth: 12, expYear: thisYear - 1 }, { expMonth: 1, expYear: 2000 }]) {
      const res = await postCard(customer.token, card('4242424242424242', expiry));
      assert.equal(res.statusCode, 422, `${JSON.stringify(expiry)}: ${res.body}`);
      assert.equal(res.json().code, 'CARD_EXPIRED');
    }
  });

  it('rejects malformed bodies with problem+json 4xx', async () => {
    const customer = await newCustomer(harness);
    const invalid = [
      {},
      [],
      null,
      card('4242424242424242', { expMonth: 0 }),
      card('4242424242424242', { expMonth: 13 }),
      card('4242424242424242', { expMonth: '12' }),
      card('4242424242424242', { expMonth: 1.5 }),
      card('4242424242424242', { expYear: 1999 }),
      card('4242424242424242', { expYear: 99999 }),
      card('4242424242424242', { cvc: '12' }),
      card('4242424242424242', { cvc: '12345' }),
      card('4242424242424242', { cvc: 123 }),
      card('4242424242424242', { cvc: 'abc' }),
      card('4242424242424242', { extra: true }),
      card(''),
      { ...card('x'), cardNumber: 4242424242424242 },
      { expMonth: 12, expYear: thisYear + 1, cvc: '123' },
      card('4'.repeat(65)),
    ];
    for (const payload of invalid) {
      const res = await postCard(customer.token, payload);
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
      assert.equal(res.headers['content-type'], problemJson);
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
    const badJson = await harness.app.inject({
      method: 'POST',
      url: '/api/payments/tokens',
      headers: { ...auth(customer.token), 'content-type': 'application/json' },
      payload: '{"cardNumber": "4242',
    });
    assert.equal(badJson.statusCode, 400, badJson.body);
    assert.equal(badJson.json().code, 'MALFORMED_BODY');
    const notJson = await harness.app.inject({
      method: 'POST',
      url: '/api/payments/tokens',
      headers: { ...auth(customer.token), 'content-type': 'text/plain' },
      payload: '4242424242424242',
    });
    assert.equal(notJson.statusCode, 415, notJson.body);
    assert.equal(notJson.headers['content-type'], problemJson);
  });

  it('answers 401 without a valid access token', async () => {
    for (const headers of [{}, { authorization: 'Bearer not.a.token' }, auth(await harness.tokens.issue({ expiresIn: '-1m' })), auth(await harness.tokens.issue({ userId: 'service-account' }))]) {
      const res = await harness.app.inject({ method: 'POST', url: '/api/payments/tokens', headers, payload: card('4242424242424242') });
      assert.equal(res.statusCode, 401, `${JSON.stringify(headers)}: ${res.body}`);
      assert.equal(res.json().code, 'UNAUTHENTICATED');
    }
  });

  it('never stores the card number or the CVC anywhere in its database', async () => {
    const customer = await newCustomer(harness);
    const number = uniqueCardNumber();
    const spaced = number.replace(/(\d{4})(?=\d)/g, '$1 ');
    const cvc = String(randomInt(7000, 9999)); // never a year or an amount of these tests
    const res = await postCard(customer.token, { cardNumber: spaced, expMonth: 11, expYear: thisYear + 5, cvc });
    assert.equal(res.statusCode, 201, res.body);
    // The token goes on to pay for an order: the payment and the outbox are read too.
    const orderId = randomUUID();
    await handle(harness, command('payments.authorize-payment.v1', { orderId, customerId: customer.userId, amount: { amount: 1_500, currency: 'EUR' }, paymentToken: res.json().token }));
    // A refused card does not leave its number behind either.
    const refused = uniqueCardNumber().slice(0, -1) + '0';
    await postCard(customer.token, { cardNumber: refused, expMonth: 11, expYear: thisYear + 5, cvc });

    const { rows: tables } = await harness.db.query<{ name: string }>(
      "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
    );
    const tableNames = tables.map((t) => t.name);
    assert.ok(tableNames.includes('public.payment_methods') && tableNames.includes('public.payments') && tableNames.includes('public.outbox'), tableNames.join());
    const values: string[] = [];
    for (const table of tableNames) {
      const { rows } = await harness.db.query<{ row: Record<string, unknown> }>(`SELECT row_to_json(t) AS row FROM ${table} t`);
      for (const { row } of rows) values.push(...Object.values(row).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))));
    }
    const dump = values.join('\n');
    assert.ok(dump.includes(number.slice(-4)), 'the dump is real: it holds the last four digits');
    for (const secret of [number, spaced, refused, number.slice(0, 12), spaced.slice(0, 14), refused.slice(0, 12)]) assert.ok(!dump.includes(secret), `the database holds ${secret}`);
    // Random ids may hold any four digits by chance; the CVC would be a value, or a number in a text.
    const isId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^pm_[A-Za-z0-9_-]{24}$|^[0-9a-f]{64}$/i;
    const withoutIds = (value: string): string => (isId.test(value) ? '' : value.replaceAll(/"(?:id|correlationId|causationId|paymentId|paymentToken|token|orderId|customerId|traceparent)":"[^"]*"/g, ''));
    const numbersIn = (value: string): string[] => withoutIds(value).match(/[0-9]+/g) ?? [];
    // A random token holds "cvc" now and then (24 base64url characters; CI saw it): only what is not an id may not name it.
    const namesCvc = (value: string): boolean => /cvc|cvv/i.test(withoutIds(value));
    assert.ok(!namesCvc('pm_AbCvC0123456789abcdefghi') && !namesCvc('{"paymentToken":"pm_xcVv0123456789abcdefghij"}') && namesCvc('{"cvc":"1234"}'), 'the scan tells ids from a named CVC');
    for (const value of values) {
      assert.ok(!numbersIn(value).includes(cvc), `the database holds the CVC in ${value}`);
      assert.ok(!namesCvc(value), `the database names a CVC in ${value}`);
    }
  });
});

describe('listing payments', () => {
  it("lists the caller's own payments, newest first, in pages, without tombstones", async () => {
    const ada = await newCustomer(harness);
    const grace = await newCustomer(harness);
    const first = await paidOrder(ada, 1_000);
    const second = await paidOrder(ada, 2_000, '5555555555554444');
    const third = await paidOrder(ada, 3_000, '4000000000000002');
    await paidOrder(grace, 9_000);
    // A compensation for an unknown order leaves a tombstone: no one's payment.
    await handle(harness, command('payments.void-payment.v1', { orderId: randomUUID(), reason: 'Timed out.' }));

    const page1 = await list(ada.token, '?pageSize=2');
    assert.deepEqual(
      page1.items.map((p) => p['orderId']),
      [third, second],
    );
    assert.equal(page1.total, 3);
    assert.equal(page1.page, 1);
    assert.equal(page1.pageSize, 2);
    const page2 = await list(ada.token, '?pageSize=2&page=2');
    assert.deepEqual(
      page2.items.map((p) => p['orderId']),
      [first],
    );
    const beyond = await list(ada.token, '?pageSize=2&page=9');
    assert.deepEqual(beyond.items, []);
    assert.equal(beyond.total, 3, 'past the last page the total is still reported');

    const [declined, mastercard] = page1.items;
    assert.deepEqual(Object.keys(declined!).sort(), ['amount', 'brand', 'createdAt', 'id', 'last4', 'orderId', 'status', 'updatedAt']);
    assert.equal(declined!['status'], 'DECLINED');
    assert.deepEqual(mastercard!['amount'], { amount: 2_000, currency: 'EUR' });
    assert.equal(mastercard!['status'], 'AUTHORIZED');
    assert.equal(mastercard!['brand'], 'mastercard');
    assert.equal(mastercard!['last4'], '4444');
    assert.ok(!Number.isNaN(Date.parse(mastercard!['createdAt'] as string)));

    assert.equal((await list(grace.token)).total, 1);
    assert.equal((await list((await newCustomer(harness)).token)).total, 0);
  });

  it('filters by order, and finds nothing for an order of someone else', async () => {
    const owner = await newCustomer(harness);
    const other = await newCustomer(harness);
    const orderId = await paidOrder(owner, 4_200);
    await paidOrder(owner, 100);
    const mine = await list(owner.token, `?orderId=${orderId}`);
    assert.equal(mine.total, 1);
    assert.equal(mine.items[0]!['orderId'], orderId);
    assert.equal((await list(other.token, `?orderId=${orderId}`)).total, 0);
  });

  it("lets an admin list everyone's payments or one customer's; a customer only their own", async () => {
    const ada = await newCustomer(harness);
    const grace = await newCustomer(harness);
    const admin = await newCustomer(harness, ['customer', 'admin']);
    const adasOrder = await paidOrder(ada, 500);
    const gracesOrder = await paidOrder(grace, 600);

    const everyone = await list(admin.token, '?pageSize=100');
    const orders = everyone.items.map((p) => p['orderId']);
    assert.ok(orders.includes(adasOrder) && orders.includes(gracesOrder));
    const adas = await list(admin.token, `?customerId=${ada.userId}`);
    assert.deepEqual(
      adas.items.map((p) => p['orderId']),
      [adasOrder],
    );
    assert.equal((await list(admin.token, `?orderId=${gracesOrder}`)).total, 1);

    assert.equal((await list(ada.token, `?customerId=${ada.userId}`)).total, 1, 'naming yourself is fine');
    const snooping = await harness.app.inject({ url: `/api/payments?customerId=${grace.userId}`, headers: auth(ada.token) });
    assert.equal(snooping.statusCode, 403);
    assert.equal(snooping.headers['content-type'], problemJson);
    assert.equal(snooping.json().code, 'FORBIDDEN');
  });
});

describe('one payment', () => {
  it('shows one of your payments, and answers 404 PAYMENT_NOT_FOUND for anyone else', async () => {
    const owner = await newCustomer(harness);
    const other = await newCustomer(harness);
    const admin = await newCustomer(harness, ['customer', 'admin']);
    const orderId = await paidOrder(owner, 1_234);
    const [listed] = (await list(owner.token, `?orderId=${orderId}`)).items;
    const id = listed!['id'] as string;

    const res = await harness.app.inject({ url: `/api/payments/${id}`, headers: auth(owner.token) });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), listed);

    for (const [token, paymentId] of [
      [other.token, id],
      [admin.token, id],
      [owner.token, randomUUID()],
    ] as const) {
      const missing = await harness.app.inject({ url: `/api/payments/${paymentId}`, headers: auth(token) });
      assert.equal(missing.statusCode, 404, missing.body);
      assert.equal(missing.headers['content-type'], problemJson);
      assert.equal(missing.json().code, 'PAYMENT_NOT_FOUND');
    }
  });

  it('rejects bad query parameters and ids with problem+json 400, and answers 401 without a token', async () => {
    const { token } = await newCustomer(harness);
    for (const url of [
      '/api/payments?pageSize=1000',
      '/api/payments?pageSize=0',
      '/api/payments?page=0',
      '/api/payments?page=two',
      '/api/payments?orderId=not-a-uuid',
      '/api/payments?customerId=42',
      '/api/payments?status=CAPTURED',
      '/api/payments/not-a-uuid',
      "/api/payments/'%20OR%201=1--",
    ]) {
      const res = await harness.app.inject({ url, headers: auth(token) });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.headers['content-type'], problemJson);
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
    for (const url of ['/api/payments', `/api/payments/${randomUUID()}`]) {
      const res = await harness.app.inject({ url });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'UNAUTHENTICATED');
    }
  });
});
