/**
 * The system's checkout as a customer drives it through the gateway: POST /api/orders
 * (a fresh Idempotency-Key, the approving test card), then the order's event stream
 * (GET /api/orders/:id/events, `order` events) until it is CONFIRMED or CANCELLED — or,
 * with `wait: 'poll'`, GET /api/orders/:id every 5 ms.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import type { Checkout, Result } from './load.ts';
import type { Line } from './monolith.ts';

export const APPROVING_CARD = '4242424242424242';
const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

/** Keep-alive connections to the gateway, enough for every checkout in flight (POST + its stream). */
const agent = new Agent({ connections: 4096, keepAliveTimeout: 60_000, pipelining: 1 });

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

async function call(gateway: string, path: string, options: { method?: Dispatcher.HttpMethod; token?: string; json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await request(`${gateway}${path}`, {
    method: options.method ?? 'GET',
    headers,
    body: options.json === undefined ? null : JSON.stringify(options.json),
    dispatcher: agent,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body, text };
}

function expect(answer: Answer, status: number, what: string): void {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
}

export interface Shop {
  gateway: string;
  customers: string[];
  products: string[];
}

/**
 * Customers (registered and logged in), and the first `productCount` products of the
 * catalog with `stock` more units each (admin stock adjustments), so no checkout runs out.
 */
export async function openShop(gateway: string, admin: { email: string; password: string }, options: { customers: number; productCount: number; stock: number }): Promise<Shop> {
  const login = await call(gateway, '/api/identity/login', { method: 'POST', json: admin });
  expect(login, 200, 'admin login');
  const adminToken = login.body.accessToken as string;
  const customers: string[] = [];
  for (let i = 0; i < options.customers; i++) {
    const email = `bench.${randomUUID().slice(0, 12)}@example.com`;
    const password = 'correct horse battery staple';
    expect(await call(gateway, '/api/identity/register', { method: 'POST', json: { email, password, name: `Bench Buyer ${i + 1}` } }), 201, 'register');
    const customer = await call(gateway, '/api/identity/login', { method: 'POST', json: { email, password } });
    expect(customer, 200, 'customer login');
    customers.push(customer.body.accessToken as string);
  }
  const listed = await call(gateway, '/api/catalog/products?pageSize=100');
  expect(listed, 200, 'product list');
  const candidates = (listed.body.items as Array<{ id: string; available: number; price: { currency: string } }>).filter((p) => p.available > 0 && p.price.currency === 'EUR');
  if (candidates.length < options.productCount) throw new Error(`only ${candidates.length} products in stock, need ${options.productCount}`);
  const products = candidates.slice(0, options.productCount).map((p) => p.id);
  for (const id of products) {
    const adjusted = await call(gateway, `/api/catalog/products/${id}/stock-adjustments`, { method: 'POST', token: adminToken, json: { delta: options.stock, reason: 'bench:checkout' } });
    expect(adjusted, 200, 'stock adjustment');
  }
  return { gateway, customers, products };
}

export function orderBody(lines: Line[]) {
  return {
    items: lines,
    shippingAddress: address,
    payment: { cardNumber: APPROVING_CARD, expMonth: 12, expYear: new Date().getFullYear() + 3, cvc: '123' },
  };
}

type Final = { status: string; code?: string; reason?: string };

/** Reads `order` events until one is final; answers it and the instant it arrived. */
async function streamUntilFinal(gateway: string, token: string, orderId: string, signal: AbortSignal): Promise<{ order: Final; at: number } | undefined> {
  const response = await request(`${gateway}/api/orders/${orderId}/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    dispatcher: agent,
    signal,
  });
  if (response.statusCode !== 200) throw new Error(`event stream answered ${response.statusCode}: ${(await response.body.text()).slice(0, 200)}`);
  const decoder = new TextDecoder();
  let buffered = '';
  let final: { order: Final; at: number } | undefined;
  // Read to the end even after the final event (the server closes right after it), so the connection is reused.
  for await (const chunk of response.body) {
    if (final) continue;
    buffered += decoder.decode(chunk as Buffer, { stream: true });
    let end: number;
    while (!final && (end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (!/^event: order$/m.test(block)) continue;
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      const order = JSON.parse(data) as Final;
      if (order.status !== 'PENDING') final = { order, at: performance.now() };
    }
  }
  return final;
}

async function pollUntilFinal(gateway: string, token: string, orderId: string, signal: AbortSignal): Promise<{ order: Final; at: number }> {
  for (;;) {
    const answer = await call(gateway, `/api/orders/${orderId}`, { token, signal });
    const at = performance.now();
    if (answer.status !== 200) throw new Error(`GET order answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    if ((answer.body as Final).status !== 'PENDING') return { order: answer.body as Final, at };
    await sleep(5, undefined, { signal });
  }
}

/** One checkout through the gateway, customers taken in turn. */
export function sagaCheckout(shop: Shop, lines: () => Line[], wait: 'sse' | 'poll'): Checkout {
  let turn = 0;
  return async (signal): Promise<Result> => {
    const token = shop.customers[turn++ % shop.customers.length]!;
    const placed = await call(shop.gateway, '/api/orders', { method: 'POST', token, json: orderBody(lines()), headers: { 'idempotency-key': randomUUID() }, signal });
    if (placed.status !== 202) return { outcome: 'rejected', detail: `POST /api/orders ${placed.status} ${placed.body?.code ?? placed.text.slice(0, 120)}` };
    const id = placed.body.id as string;
    const final = wait === 'sse' ? await streamUntilFinal(shop.gateway, token, id, signal) : await pollUntilFinal(shop.gateway, token, id, signal);
    if (!final) return { outcome: 'failed', orderId: id, detail: `event stream of ${id} ended before a final status` };
    if (final.order.status === 'CONFIRMED') return { outcome: 'confirmed', orderId: id, at: final.at };
    return { outcome: 'cancelled', orderId: id, at: final.at, detail: `${final.order.status} ${final.order.code ?? ''} ${final.order.reason ?? ''}` };
  };
}

export async function closeClients(): Promise<void> {
  await agent.close();
}
