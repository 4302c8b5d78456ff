import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { callPolicy, type CallPolicy } from '@bazaar/topology';
import { Registry } from 'prom-client';
import { AppError } from '../problem.ts';
import { UpstreamClient } from './upstream-client.ts';
import { UpstreamMetrics } from './upstream-metrics.ts';

/** A real HTTP server whose behaviour a test sets, counting what it receives. */
async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const servers: Server[] = [];
const clients: UpstreamClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

function client(urls: string[], policy: Partial<CallPolicy> = {}, registry = new Registry()): UpstreamClient {
  const base = callPolicy('test', 'dep');
  const created = new UpstreamClient({
    caller: 'test',
    service: 'dep',
    policy: { ...base, retry: { ...base.retry, baseDelayMs: 1, maxDelayMs: 5 }, ...policy },
    instances: () => urls.map((url, i) => ({ id: `dep-${i}`, url })),
    metrics: new UpstreamMetrics(registry),
  });
  clients.push(created);
  return created;
}

async function started(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const running = await upstream(handler);
  servers.push(running.server);
  return running;
}

const ok = (_req: IncomingMessage, res: ServerResponse) => res.end('{"ok":true}');
const unavailable = (_req: IncomingMessage, res: ServerResponse) => {
  res.statusCode = 503;
  res.end('{}');
};

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, `an AppError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('UpstreamClient', () => {
  it('retries a GET that failed on one instance on another, and sends the caller header', async () => {
    const sick = await started(unavailable);
    let caller: string | undefined;
    const healthy = await started((req, res) => {
      caller = req.headers['x-bazaar-caller'] as string;
      ok(req, res);
    });
    const dep = client([sick.url, healthy.url], { balancer: 'round-robin' });
    const response = await dep.requestJson<{ ok: boolean }>({ path: '/thing' });
    assert.equal(response.status, 200);
    assert.equal(sick.seen.length, 1);
    assert.equal(healthy.seen.length, 1);
    assert.equal(caller, 'test');
  });

  it('never retries a POST: one request reaches the server, the 5xx is the answer', async () => {
    const sick = await started(unavailable);
    const dep = client([sick.url]);
    const response = await dep.request({ method: 'POST', path: '/orders', body: { a: 1 } });
    assert.equal(response.status, 503);
    assert.equal(sick.seen.length, 1);
    // A POST the caller marks idempotent (it carries an idempotency key) may be retried.
    const again = await dep.request({ method: 'POST', path: '/orders', body: { a: 1 }, idempotent: true });
    assert.equal(again.status, 503);
    assert.equal(sick.seen.length, 1 + 3);
  });

  it('sends a POST whose connection was refused (an instance that just stopped) to another instance, but never one the server received', async () => {
    const stopped = await started(ok);
    const gone = stopped.url;
    await new Promise((resolve) => stopped.server.close(resolve));
    const healthy = await started(ok);
    const dep = client([gone, healthy.url], { balancer: 'round-robin' });
    for (let i = 0; i < 4; i++) {
      const response = await dep.request({ method: 'POST', path: '/orders', body: { i } });
      assert.equal(response.status, 200);
    }
    assert.equal(healthy.seen.length, 4);

    // A connection reset after the server read the request: it may have acted on it, so no second attempt.
    const resetting = await started((req) => req.socket.destroy());
    const reset = client([resetting.url, healthy.url], { balancer: 'round-robin' });
    const failure = await rejection(reset.request({ method: 'POST', path: '/orders', body: { a: 1 } }));
    assert.equal(failure.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal(resetting.seen.length, 1);
    assert.equal(healthy.seen.length, 4);
  });

  it('opens the breaker when most of the last calls failed, answers at once while open, closes after a good trial call', async () => {
    let failing = true;
    const flaky = await started((req, res) => (failing ? unavailable(req, res) : ok(req, res)));
    const registry = new Registry();
    const dep = client([flaky.url], { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, breaker: { failureRatio: 0.5, windowCalls: 6, minimumCalls: 3, halfOpenAfterMs: 300 } }, registry);
    for (let i = 0; i < 3; i++) assert.equal((await dep.request({ path: '/x' })).status, 503);
    assert.equal(dep.breakerState(), 'open');
    const seenBefore = flaky.seen.length;
    const started_ = performance.now();
    const open = await rejection(dep.request({ path: '/x' }));
    assert.equal(open.code, 'UPSTREAM_CIRCUIT_OPEN');
    assert.equal(open.status, 503);
    assert.ok(Number(open.headers['retry-after']) >= 1);
    assert.ok(performance.now() - started_ < 50, 'answered without waiting');
    assert.equal(flaky.seen.length, seenBefore, 'no request reached the instance');
    assert.equal(open.stack?.split('\n').length, 1, 'a refusal is an answer: no stack trace is built for it');
    assert.match(await registry.getSingleMetricAsString('upstream_circuit_state'), /upstream="dep"} 2/);
    assert.match(await registry.getSingleMetricAsString('upstream_call_duration_seconds'), /upstream_call_duration_seconds_count{upstream="dep",outcome="circuit_open"} 1/);

    failing = false;
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal((await dep.request({ path: '/x' })).status, 200);
    assert.equal(dep.breakerState(), 'closed');
    assert.match(await registry.getSingleMetricAsString('upstream_circuit_state'), /upstream="dep"} 0/);
  });

  it('a full bulkhead refuses at once with UPSTREAM_SATURATED', async () => {
    const slow = await started((req, res) => setTimeout(() => ok(req, res), 300));
    const dep = client([slow.url], { bulkhead: { maxConcurrent: 2, maxQueue: 1 } });
    const inFlight = [dep.request({ path: '/1' }), dep.request({ path: '/2' }), dep.request({ path: '/3' })];
    const before = performance.now();
    const refused = await rejection(dep.request({ path: '/4' }));
    assert.equal(refused.code, 'UPSTREAM_SATURATED');
    assert.ok(performance.now() - before < 50);
    assert.deepEqual((await Promise.all(inFlight)).map((r) => r.status), [200, 200, 200]);
  });

  it('times out an attempt, retries an idempotent one, and answers UPSTREAM_TIMEOUT', async () => {
    const stalled = await started(() => {}); // never answers
    const dep = client([stalled.url], { timeoutMs: 100, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const before = performance.now();
    const timedOut = await rejection(dep.request({ path: '/slow' }));
    assert.equal(timedOut.code, 'UPSTREAM_TIMEOUT');
    assert.equal(stalled.seen.length, 2);
    assert.ok(performance.now() - before < 1_000);
  });

  it('the retry budget caps retries in an outage', async () => {
    const down = await started(unavailable);
    const dep = client([down.url], {
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      retryBudget: { ratio: 0.1, minPerSecond: 0 },
      breaker: { failureRatio: 0.99, windowCalls: 1_000, minimumCalls: 1_000, halfOpenAfterMs: 1_000 },
    });
    for (let i = 0; i < 100; i++) await dep.request({ path: '/x' });
    const retries = down.seen.length - 100;
    assert.ok(retries <= 10, `${retries} retries for 100 calls`);
    assert.ok(retries >= 9, `the budget is spent, not unused: ${retries}`);
  });

  it('does not open the breaker on a healthy service failing 10 % of calls at random', async () => {
    let n = 0;
    const flaky = await started((req, res) => (++n % 10 === 0 ? unavailable(req, res) : ok(req, res)));
    // Retries off, so every failure reaches the breaker; with the declared window, 10 % never opens it.
    const dep = client([flaky.url], { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    for (let i = 0; i < 500; i++) await dep.request({ path: '/x' });
    assert.equal(dep.breakerState(), 'closed');
  });

  it('no live instance answers UPSTREAM_UNAVAILABLE', async () => {
    const dep = client([]);
    assert.equal((await rejection(dep.request({ path: '/x' }))).code, 'UPSTREAM_UNAVAILABLE');
  });

  it('a refused connection is retried elsewhere for a GET and ejects the dead instance', async () => {
    const dead = await started(ok);
    const deadUrl = dead.url;
    dead.server.closeAllConnections();
    await new Promise((resolve) => dead.server.close(resolve));
    servers.splice(servers.indexOf(dead.server), 1);
    const alive = await started(ok);
    const dep = client([deadUrl, alive.url], { balancer: 'round-robin', outlier: { consecutiveFailures: 2, ejectMs: 60_000, maxEjectedPercent: 50 } });
    for (let i = 0; i < 10; i++) assert.equal((await dep.request({ path: '/x' })).status, 200);
    const dead_ = dep.stats().instances.find((s) => s.url === deadUrl)!;
    assert.equal(dead_.ejected, true);
    assert.equal(dead_.failures, 2, 'after ejection the dead instance is not tried');
  });
});
