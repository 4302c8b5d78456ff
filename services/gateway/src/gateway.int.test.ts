import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createService, loadConfig, type ServiceApp } from '@bazaar/chassis';
import { request, type Dispatcher } from 'undici';
import { testTokens, type TestTokens } from '@bazaar/runtime/testing/tokens';
import { routedServices, serviceUrlVariable } from '@bazaar/topology';
import { createGatewayService } from './app.ts';
import { GatewayConfig } from './config.ts';

/** A real HTTP server standing in for a service: records what it received, answers as told. */
interface FakeUpstream {
  server: Server;
  url: string;
  received: IncomingMessage[];
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;
}

async function fakeUpstream(): Promise<FakeUpstream> {
  const upstream: FakeUpstream = {
    server: undefined as unknown as Server,
    url: '',
    received: [],
    handler: (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
  };
  upstream.server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      upstream.received.push(req);
      if (req.url === '/readyz') return void res.writeHead(200).end('{}');
      if (req.url === '/docs/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ openapi: '3.1.0', paths: { [`/api/fake${upstream.url.slice(-5)}`]: {} } }));
      upstream.handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}`;
  return upstream;
}

/** The socket can take more, or never will (closed, failed): `once(socket, 'drain')` would reject on an error. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    for (const event of ['drain', 'close', 'error']) socket.once(event, () => resolve());
  });
}

let app: ServiceApp;
let gatewayUrl: string;
let tokens: TestTokens;

interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A real HTTP request to a listening gateway: the proxy path runs below Fastify, so inject() would not reach it. */
async function call(base: string, options: { url: string; method?: string; headers?: Record<string, string>; payload?: string }): Promise<Answer> {
  const response = await request(base + options.url, { method: (options.method ?? 'GET') as Dispatcher.HttpMethod, headers: options.headers ?? {}, body: options.payload });
  const body = await response.body.text();
  return { statusCode: response.statusCode, headers: response.headers, body, json: () => JSON.parse(body) };
}
const send = (options: Parameters<typeof call>[1]) => call(gatewayUrl, options);
const upstreams: Record<string, FakeUpstream> = {};

before(async () => {
  tokens = await testTokens();
  const env: Record<string, string> = { SERVICE_NAME: 'gateway', PORT: '0', UPSTREAM_TIMEOUT_MS: '300', RATE_LIMIT_PER_MINUTE: '1000', BODY_LIMIT: '2048' };
  for (const service of routedServices) {
    upstreams[service] = await fakeUpstream();
    env[serviceUrlVariable(service)] = upstreams[service].url;
  }
  const config = loadConfig(GatewayConfig, env);
  ({ app } = await createService({ ...createGatewayService(), accessTokens: () => tokens.verifier }, config, { logger: false }));
  gatewayUrl = await app.listen({ port: 0, host: '127.0.0.1' });
});

after(async () => {
  await app.close();
  for (const upstream of Object.values(upstreams)) upstream.server.close();
});

describe('routing', () => {
  it('sends /api/<service>/… to the service the topology names, path and query intact', async () => {
    const res = await send({ url: '/api/catalog/products?q=lamp&page=2' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true });
    const seen = upstreams['catalog']!.received.at(-1)!;
    assert.equal(seen.url, '/api/catalog/products?q=lamp&page=2');
    assert.equal(upstreams['identity']!.received.filter((r) => r.url?.startsWith('/api/catalog')).length, 0);
  });

  it('forwards bodies and propagates the correlation id and W3C trace context', async () => {
    let body = '';
    upstreams['identity']!.handler = (_req, res, b) => {
      body = b;
      res.writeHead(201, { 'content-type': 'application/json', 'x-custom': 'yes' }).end('{"id":"1"}');
    };
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await send({
      method: 'POST',
      url: '/api/identity/register',
      headers: { 'content-type': 'application/json', 'x-request-id': 'corr-123', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      payload: '{"email":"a@b.c"}',
    });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['x-custom'], 'yes');
    assert.equal(res.headers['x-request-id'], 'corr-123');
    assert.equal(body, '{"email":"a@b.c"}');
    const seen = upstreams['identity']!.received.at(-1)!;
    assert.equal(seen.headers['x-request-id'], 'corr-123');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    const traceparent = String(seen.headers['traceparent']);
    assert.match(traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the caller\'s trace continues through the gateway');
    assert.doesNotMatch(traceparent, /00f067aa0ba902b7/, 'with the gateway\'s own span as parent');
  });

  it('answers an unknown route with problem+json 404 and a correlation id', async () => {
    const res = await send({ url: '/api/nowhere/at-all' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(res.json().code, 'ROUTE_NOT_FOUND');
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });
});

describe('failing upstreams', () => {
  it('answers 504 naming the service when it is too slow, without hanging', async () => {
    upstreams['catalog']!.handler = (_req, res) => setTimeout(() => res.writeHead(200).end('{}'), 2_000);
    const started = Date.now();
    const res = await send({ url: '/api/catalog/products' });
    assert.equal(res.statusCode, 504);
    assert.equal(res.json().code, 'UPSTREAM_TIMEOUT');
    assert.match(res.json().detail, /catalog/);
    assert.ok(Date.now() - started < 1_500);
    upstreams['catalog']!.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });

  it('times each stalled request out at its own deadline, in the order they came', async () => {
    // GETs are answered; POSTs (never retried, one deadline each) stall past the 300 ms deadline.
    upstreams['orders']!.handler = (req, res) => {
      if (req.method === 'POST') setTimeout(() => res.writeHead(200).end('{}'), 2_000);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    const timed = async (delayMs: number, method: string) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const sent = Date.now();
      const res = await send({ method, url: '/api/orders/orders', headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { payload: '{}' } : {}) });
      return { status: res.statusCode, ms: Date.now() - sent, at: Date.now() };
    };
    // An answered request first, then two stalled ones while its deadline is still pending.
    const [answered, first, second] = await Promise.all([timed(0, 'GET'), timed(100, 'POST'), timed(250, 'POST')]);
    assert.equal(answered.status, 200);
    assert.deepEqual([first.status, second.status], [504, 504]);
    for (const { ms } of [first, second]) assert.ok(ms >= 280 && ms < 900, `timed out ${ms} ms after it was sent, deadline 300 ms`);
    assert.ok(second.at - first.at >= 100, 'the later request times out later');
    upstreams['orders']!.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });

  it('answers 502 naming the service when it is down, and stays ready for the others', async () => {
    const identity = upstreams['identity']!;
    await new Promise<void>((resolve) => {
      identity.server.close(() => resolve());
      identity.server.closeAllConnections();
    });
    const res = await send({ url: '/api/identity/me' });
    assert.equal(res.statusCode, 502);
    assert.equal(res.json().code, 'UPSTREAM_UNAVAILABLE');
    assert.match(res.json().detail, /identity/);
    // One service down does not take the gateway out of rotation: everything else still works through it.
    const ready = await send({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal((await send({ url: '/api/catalog/products' })).statusCode, 200);
  });
});

describe('edge security', () => {
  it('verifies tokens at the edge: forged, alg none, wrong audience and expired are 401', async () => {
    const good = await tokens.issue();
    const [header, payload] = good.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(86)}`;
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
    const wrongAudience = await tokens.issue({ audience: 'someone-else' });
    const expired = await tokens.issue({ expiresIn: Math.floor(Date.now() / 1000) - 60 });
    for (const [label, token] of Object.entries({ forged, none, wrongAudience, expired })) {
      const res = await send({ url: '/api/catalog/products', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 401, label);
      assert.equal(res.json().code, 'UNAUTHENTICATED', label);
    }
    const ok = await send({ url: '/api/catalog/products', headers: { authorization: `Bearer ${good}` } });
    assert.equal(ok.statusCode, 200);
    assert.equal(upstreams['catalog']!.received.at(-1)!.headers.authorization, `Bearer ${good}`, 'the token travels on so the service verifies again');
    // The good token is now remembered; a header that merely contains it is still parsed and refused.
    assert.equal((await send({ url: '/api/catalog/products', headers: { authorization: `Bearer ${good}` } })).statusCode, 200);
    for (const authorization of [`Bearer ${good} extra`, `Bearer  ${good}`, `Basic ${good}`, `Bearer ${good}.x`]) {
      const res = await send({ url: '/api/catalog/products', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization.slice(0, 12));
      assert.equal(res.json().code, 'UNAUTHENTICATED');
    }
  });

  it('limits body size with 413, declared or streamed', async () => {
    const chunked = await request(`${gatewayUrl}/api/catalog/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.from(
        (function* () {
          for (let i = 0; i < 10; i++) yield Buffer.alloc(500, 'x');
        })(),
      ),
    });
    assert.equal(chunked.statusCode, 413);
    assert.equal(((await chunked.body.json()) as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    const res = await send({ method: 'POST', url: '/api/catalog/products', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ x: 'y'.repeat(5000) }) });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, 'PAYLOAD_TOO_LARGE');
  });

  it('lets a client still sending a declared oversized body finish and read the 413, then reuses the connection', async () => {
    // A client that writes its whole body before reading (most do) must not meet a closed
    // socket (EPIPE, or a reset that loses the 413): the gateway reads and discards the
    // refused body, within bounds, as HTTP/1.1 servers do before closing.
    const raw = await rawConnection(gatewayUrl);
    const size = 512 * 1024;
    raw.socket.write(`POST /api/catalog/products HTTP/1.1\r\nhost: ${raw.host}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`);
    await raw.waitFor((received) => received.includes('PAYLOAD_TOO_LARGE'), 'no 413 before the body');
    assert.match(raw.received(), /^HTTP\/1\.1 413 /);
    // The body after the answer: a megabyte-scale upload still in flight.
    for (let sent = 0; sent < size && !raw.socket.destroyed; sent += 16_384) await raw.send(Buffer.alloc(Math.min(16_384, size - sent), 'x'));
    await raw.expectReusable();
  });

  it('lets a client still streaming a chunked body found too large mid-way finish and read the 413, then reuses the connection', async () => {
    const raw = await rawConnection(gatewayUrl);
    const chunk = (size: number) => Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), Buffer.alloc(size, 'x'), Buffer.from('\r\n')]);
    raw.socket.write(`POST /api/catalog/products HTTP/1.1\r\nhost: ${raw.host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
    // Past the limit with no length declared: the gateway learns it mid-way.
    for (let sent = 0; sent < 64 * 1024; sent += 4096) raw.socket.write(chunk(4096));
    await raw.waitFor((received) => received.includes('PAYLOAD_TOO_LARGE'), 'no 413 mid-body');
    assert.match(raw.received(), /^HTTP\/1\.1 413 /);
    // The rest of a half-megabyte upload still in flight, then its end.
    for (let sent = 64 * 1024; sent < 512 * 1024 && !raw.socket.destroyed; sent += 16_384) await raw.send(chunk(16_384));
    raw.socket.write('0\r\n\r\n');
    await raw.expectReusable();
  });

  it('closes a connection whose refused body goes on past what the gateway will discard', async () => {
    const { hostname: host, port } = new URL(gatewayUrl);
    const socket = connect(Number(port), host);
    await once(socket, 'connect');
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`POST /api/catalog/products HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${100 * 1024 * 1024}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const writing = (async () => {
      while (!socket.destroyed && sent < 100 * 1024 * 1024) {
        sent += chunk.length;
        if (!socket.write(chunk)) await Promise.race([drained(socket), closed]);
      }
    })();
    await Promise.race([closed, sleep(15_000).then(() => assert.fail('the gateway kept reading a 100 MB refused body'))]);
    await writing;
    assert.ok(sent < 100 * 1024 * 1024, `closed after ${sent} bytes, before the whole body`);
  });

  it('allows CORS only for listed origins and sets security headers', async () => {
    const allowed = await send({ method: 'OPTIONS', url: '/api/catalog/products', headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'GET' } });
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://localhost:8080');
    const denied = await send({ method: 'OPTIONS', url: '/api/catalog/products', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(denied.headers['access-control-allow-origin'], undefined);
    const res = await send({ url: '/api/catalog/products' });
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.ok(res.headers['content-security-policy']);
    const docs = await send({ url: '/docs/json' });
    const policy = String(docs.headers['content-security-policy']);
    assert.match(policy, /script-src 'self'/);
    assert.doesNotMatch(policy, /upgrade-insecure-requests/, 'the docs page is served over plain HTTP; its assets must load from it');
  });

  it('rate-limits per client IP with 429, Retry-After and RateLimit headers', async () => {
    const config = loadConfig(GatewayConfig, {
      SERVICE_NAME: 'gateway', PORT: '0', RATE_LIMIT_PER_MINUTE: '3',
      ...Object.fromEntries(routedServices.map((s) => [serviceUrlVariable(s), upstreams['catalog']!.url])),
    });
    const { app: limited } = await createService({ ...createGatewayService(), accessTokens: () => tokens.verifier }, config, { logger: false });
    const limitedUrl = await limited.listen({ port: 0, host: '127.0.0.1' });
    try {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await call(limitedUrl, { url: '/api/catalog/products' }));
      assert.deepEqual(answers.map((a) => a.statusCode), [200, 200, 200, 429]);
      const refused = answers[3]!;
      assert.equal(refused.json().code, 'RATE_LIMITED');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal(refused.headers['ratelimit-limit'], '3');
      const docs = await call(limitedUrl, { url: '/docs/json' });
      assert.equal(docs.statusCode, 429, "the gateway's own routes share the budget");
      const probe = await call(limitedUrl, { url: '/healthz' });
      assert.equal(probe.statusCode, 200, 'probes are never rate-limited');
      const asset = await call(limitedUrl, { url: '/app/main.js' });
      assert.equal(asset.statusCode, 200, 'nor the web app’s own files, which reach no service');
    } finally {
      await limited.close();
    }
  });
});

describe('aggregated API description', () => {
  it('merges every service document into /docs/json', async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await send({ url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.info.title, 'Bazaar API');
    assert.ok(Object.keys(doc.paths).some((p) => p.startsWith('/api/fake')), 'service paths are merged in');
  });
});

describe('web app', () => {
  it('answers the storefront page to a browser and the JSON index to anything else', async () => {
    const page = await send({ url: '/', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<script type="module" src="\/app\/main\.js"><\/script>/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or foreign script');
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html']) {
      const index = await send({ url: '/', ...(accept ? { headers: { accept } } : {}) });
      assert.equal(index.statusCode, 200);
      assert.match(String(index.headers['content-type']), /^application\/json/, `Accept: ${accept}`);
      assert.equal(index.json().docs, '/docs');
    }
  });

  it('serves its modules with their types and ETags, and 304 when unchanged', async () => {
    const script = await send({ url: '/app/main.js' });
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript|^application\/javascript/);
    assert.equal(script.headers['cache-control'], 'no-cache');
    const etag = String(script.headers['etag']);
    const again = await send({ url: '/app/main.js', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    const css = await send({ url: '/app/styles.css' });
    assert.match(String(css.headers['content-type']), /^text\/css/);
  });

  it('answers a missing file, a hidden one or a way out of its folder with a problem+json 404', async () => {
    for (const url of ['/app/nope.js', '/app/', '/app/tsconfig.json', '/app/lib/sse.unit.test.ts', '/app/../src/app.ts', '/app/%2e%2e/src/app.ts', '/app/..%2fsrc%2fapp.ts', '/app/.hidden', '/app/lib/%00.js']) {
      const res = await send({ url });
      assert.ok([400, 403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, url);
      assert.doesNotMatch(res.body, /createGatewayService|import /, `${url} leaks no source`);
    }
  });

  it('draws the demo catalog’s product pictures from their SKU, and nothing else', async () => {
    const picture = await send({ url: '/images/products/boo-001.svg' });
    assert.equal(picture.statusCode, 200);
    assert.equal(picture.headers['content-type'], 'image/svg+xml');
    assert.match(picture.body, /^<svg [^>]*>.*>BOO<.*>001<.*<\/svg>$/);
    assert.equal((await send({ url: '/images/products/boo-001.svg' })).body, picture.body, 'the same picture every time');
    for (const url of ['/images/products/BOO-001.svg', '/images/products/x.png', '/images/products/%3Cscript%3E.svg', '/images/products/a.svg.svg']) {
      const res = await send({ url });
      assert.equal(res.statusCode, 404, url);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, url);
    }
  });
});

/** A raw HTTP/1.1 connection to the gateway that keeps what it receives and the errors it meets. */
async function rawConnection(url: string) {
  const { hostname: host, port } = new URL(url);
  const socket = connect(Number(port), host);
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const errors: Error[] = [];
  socket.on('error', (error) => errors.push(error));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  /** Waits up to 2 s, while the connection is open, for what has arrived to satisfy `done`. */
  const waitFor = async (done: (received: string) => boolean, failure: string) => {
    for (let deadline = Date.now() + 2_000; !done(received); ) {
      assert.ok(Date.now() < deadline && !socket.destroyed, `${failure}: ${JSON.stringify(received.slice(0, 200))} ${errors.map((e) => e.message)}`);
      await sleep(10);
    }
  };
  return {
    socket,
    host,
    received: () => received,
    waitFor,
    /** Writes, waiting for the socket to drain (or close) when it asks to. */
    send: async (data: Buffer) => {
      if (!socket.write(data)) await Promise.race([drained(socket), closed]);
    },
    /** A GET on the same connection answers 200, with no socket error on the way: the connection was left reusable. */
    expectReusable: async () => {
      received = '';
      socket.write(`GET /api/catalog/products HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
      await waitFor((answer) => /^HTTP\/1\.1 \d{3} [\s\S]*\r\n\r\n/.test(answer), 'the connection was not reusable after the refused body');
      assert.match(received, /^HTTP\/1\.1 200 /);
      assert.deepEqual(errors, []);
      socket.destroy();
    },
  };
}
