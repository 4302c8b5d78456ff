/**
 * Fault injection over real sockets: a plain node:http server with the injector
 * in front of a trivial handler, real undici requests against it, and
 * `npm run chaos` as a child process.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { clearFault, createFaultInjector, FAULT_CONTROL_PATH, FaultControlError, faultStatus, setFault, type FaultInjector, type FaultStatus } from './faults.ts';

interface TestServer {
  url: string;
  injector: FaultInjector;
  /** Paths the handler behind the injector answered, in order. */
  handled: string[];
  close(): Promise<void>;
}

/**
 * A server whose handler answers 200 `{ path }` to what the injector lets through,
 * and 404 under /internal/ (as a service without such routes does).
 */
async function startServer(options: { enabled?: boolean; service?: string; host?: string } = {}): Promise<TestServer> {
  const injector = createFaultInjector({ enabled: options.enabled ?? true, service: options.service ?? 'chaos-test' });
  const handled: string[] = [];
  const server: Server = createServer((req, res) =>
    injector.around(req, res, () => {
      handled.push(req.url ?? '');
      const body = JSON.stringify({ path: req.url });
      res.writeHead(req.url?.startsWith('/internal/') ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    injector,
    handled,
    close: async () => {
      injector.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const agent = new Agent({ keepAliveTimeout: 1000 });

async function get(url: string, options: { headers?: Record<string, string>; headersTimeout?: number; method?: 'GET' | 'PUT' | 'POST' | 'DELETE'; body?: string } = {}) {
  const response = await request(url, {
    dispatcher: agent,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    headersTimeout: options.headersTimeout ?? 10_000,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Waits until the injector's status satisfies `done` (a request is held, say). */
async function until(injector: FaultInjector, done: (status: FaultStatus) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done(injector.status())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}: ${JSON.stringify(injector.status())}`);
    await sleep(10);
  }
}

let server: TestServer;

before(async () => {
  server = await startServer();
});

afterEach(() => {
  server.injector.clear();
});

after(async () => {
  await server.close();
  await agent.close();
});

describe('latency', () => {
  it('delays every matched request by at least the latency, then lets it through', async () => {
    await setFault(server.url, { latencyMs: 300 });
    const started = performance.now();
    const answer = await get(`${server.url}/api/slow`);
    const elapsed = performance.now() - started;
    assert.equal(answer.status, 200);
    assert.ok(elapsed >= 300, `answered after ${elapsed} ms`);
    assert.equal(server.handled.at(-1), '/api/slow');
    assert.equal((await faultStatus(server.url)).counters.delayed, 1);

    await clearFault(server.url);
    const fast = performance.now();
    await get(`${server.url}/api/slow`);
    assert.ok(performance.now() - fast < 300, 'without the fault the request is not delayed');
  });

  it('adds jitter on top of the latency', async () => {
    await setFault(server.url, { latencyMs: 100, jitterMs: 100 });
    const elapsed = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const started = performance.now();
        assert.equal((await get(`${server.url}/api/x`)).status, 200);
        return performance.now() - started;
      }),
    );
    for (const ms of elapsed) assert.ok(ms >= 100, `answered after ${ms} ms`);
  });
});

describe('errors', () => {
  it('at rate 1, answers every request 503 problem+json without the handler seeing it', async () => {
    const handledBefore = server.handled.length;
    await setFault(server.url, { errorRate: 1 });
    for (let i = 0; i < 20; i++) {
      const answer = await get(`${server.url}/api/orders/${i}?x=1`, { headers: { 'x-request-id': `req-${i}` } });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.equal(answer.headers['x-bazaar-fault'], 'error');
      assert.equal(answer.headers['x-request-id'], `req-${i}`);
      const body = answer.json();
      assert.equal(body['code'], 'SERVICE_UNAVAILABLE');
      assert.equal(body['status'], 503);
      assert.equal(body['instance'], `/api/orders/${i}`);
      assert.equal(body['requestId'], `req-${i}`);
      assert.match(String(body['detail']), /Injected fault/);
    }
    assert.equal(server.handled.length, handledBefore);
    const { counters } = await faultStatus(server.url);
    assert.deepEqual(counters, { seen: 20, matched: 20, delayed: 0, errored: 20, reset: 0, blackholed: 0 });
  });

  it('answers the status asked for: 500 is INTERNAL_ERROR', async () => {
    await setFault(server.url, { errorRate: 1, errorStatus: 500 });
    const answer = await get(`${server.url}/api/x`);
    assert.equal(answer.status, 500);
    assert.equal(answer.json()['code'], 'INTERNAL_ERROR');
  });

  it('at rate 0.5, fails about half of 200 requests', async () => {
    await setFault(server.url, { errorRate: 0.5 });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const answer = await get(`${server.url}/api/x`);
      assert.ok(answer.status === 200 || answer.status === 503, String(answer.status));
      if (answer.status === 503) failed++;
    }
    // Binomial(200, 0.5): the mean is 100 and the deviation about 7; this band is 5 of them.
    assert.ok(failed >= 65 && failed <= 135, `${failed} of 200 failed`);
    const { counters } = await faultStatus(server.url);
    assert.equal(counters.errored, failed);
    assert.equal(counters.matched, 200);
  });
});

describe('resets', () => {
  it('destroys the connection without an answer: the client sees a reset', async () => {
    await setFault(server.url, { resetRate: 1 });
    const handledBefore = server.handled.length;
    await assert.rejects(get(`${server.url}/api/x`), (error: Error & { code?: string }) => {
      assert.ok(error.code === 'ECONNRESET' || error.code === 'UND_ERR_SOCKET', `${error.code}: ${error.message}`);
      return true;
    });
    assert.equal(server.handled.length, handledBefore);
    assert.equal((await faultStatus(server.url)).counters.reset, 1);
  });
});

describe('blackhole', () => {
  it('never answers; the client times out and the injector forgets the request', async () => {
    await setFault(server.url, { blackholeRate: 1 });
    await assert.rejects(get(`${server.url}/api/x`, { headersTimeout: 300 }), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    await until(server.injector, (s) => s.held === 0, 'the abandoned request is dropped');
    const status = await faultStatus(server.url);
    assert.equal(status.counters.blackholed, 1);
  });

  it('clearing the fault lets the held requests through', async () => {
    await setFault(server.url, { blackholeRate: 1 });
    const handledBefore = server.handled.length;
    const pending = Promise.all([get(`${server.url}/api/held/1`), get(`${server.url}/api/held/2`)]);
    await until(server.injector, (s) => s.held === 2, 'both requests are held');
    await sleep(100);
    assert.equal(server.handled.length, handledBefore, 'held requests do not reach the handler');
    const cleared = await clearFault(server.url);
    assert.equal(cleared.held, 0);
    const answers = await pending;
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200],
    );
    assert.deepEqual(server.handled.slice(handledBefore).sort(), ['/api/held/1', '/api/held/2']);
  });

  it('a delayed request is released at once when the fault is cleared', async () => {
    await setFault(server.url, { latencyMs: 60_000 });
    const started = performance.now();
    const pending = get(`${server.url}/api/x`);
    await until(server.injector, (s) => s.held === 1, 'the request is delayed');
    await clearFault(server.url);
    assert.equal((await pending).status, 200);
    assert.ok(performance.now() - started < 5000);
  });
});

describe('scope', () => {
  it('`from` faults only requests whose caller header names that service', async () => {
    await setFault(server.url, { errorRate: 1, from: 'orders' });
    assert.equal((await get(`${server.url}/api/x`, { headers: { 'x-bazaar-caller': 'orders' } })).status, 503);
    assert.equal((await get(`${server.url}/api/x`, { headers: { 'x-bazaar-caller': 'shipping' } })).status, 200);
    assert.equal((await get(`${server.url}/api/x`)).status, 200);
    const { counters } = await faultStatus(server.url);
    assert.equal(counters.seen, 3);
    assert.equal(counters.matched, 1);
  });

  it('`pathPrefix` faults only requests under it', async () => {
    await setFault(server.url, { errorRate: 1, pathPrefix: '/api/payments' });
    assert.equal((await get(`${server.url}/api/payments/42`)).status, 503);
    assert.equal((await get(`${server.url}/api/payments?page=2`)).status, 503);
    assert.equal((await get(`${server.url}/api/orders/42`)).status, 200);
    assert.equal((await get(`${server.url}/readyz`)).status, 200, 'outside the prefix, probes are not faulted');
  });

  it('/healthz and the control endpoint are never faulted; /readyz and /metrics are', async () => {
    await setFault(server.url, { errorRate: 1 });
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
    assert.equal((await get(`${server.url}/readyz`)).status, 503);
    assert.equal((await get(`${server.url}/metrics`)).status, 503);
    await setFault(server.url, { blackholeRate: 1 });
    assert.equal((await faultStatus(server.url)).fault?.blackholeRate, 1, 'the control endpoint answers under a total blackhole');
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
    await assert.rejects(get(`${server.url}/readyz`, { headersTimeout: 300 }), { code: 'UND_ERR_HEADERS_TIMEOUT' });
  });
});

describe('expiry', () => {
  it('a fault with forMs ends by itself, releasing what it holds', async () => {
    const status = await setFault(server.url, { errorRate: 0.5, blackholeRate: 0.5, forMs: 400 });
    assert.ok(status.expiresAt && Date.parse(status.expiresAt) > Date.now());
    // Until a request is blackholed (half are), then the expiry must release it.
    let pending: Promise<unknown> | undefined;
    for (let i = 0; i < 20 && !pending; i++) {
      const attempt = get(`${server.url}/api/x`);
      const first = await Promise.race([attempt.then((a) => a.status), sleep(50, 'held')]);
      if (first === 'held') pending = attempt;
    }
    assert.ok(pending, 'no request was blackholed');
    assert.equal(((await pending) as { status: number }).status, 200);
    const after = await faultStatus(server.url);
    assert.equal(after.fault, null);
    assert.equal(after.ended?.reason, 'expired');
    assert.equal((await get(`${server.url}/api/x`)).status, 200);
  });
});

describe('the control endpoint', () => {
  const put = (body: string) => get(`${server.url}${FAULT_CONTROL_PATH}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });

  it('refuses bad specs with 400 VALIDATION_FAILED naming the field, and garbage with MALFORMED_BODY', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['{"latencyMs": -1}', 'VALIDATION_FAILED', 'body/latencyMs'],
      ['{"latencyMs": 120001}', 'VALIDATION_FAILED', 'body/latencyMs'],
      ['{"errorRate": 1.5}', 'VALIDATION_FAILED', 'body/errorRate'],
      ['{"errorRate": 1, "errorStatus": 418}', 'VALIDATION_FAILED', 'body/errorStatus'],
      ['{"latencyMs": 10, "latencyMS": 10}', 'VALIDATION_FAILED', 'body/latencyMS'],
      ['{}', 'VALIDATION_FAILED', 'body'],
      ['[1]', 'VALIDATION_FAILED', 'body'],
      ['{"latencyMs": ', 'MALFORMED_BODY', undefined],
      ['', 'MALFORMED_BODY', undefined],
    ];
    for (const [body, code, path] of cases) {
      const answer = await put(body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      const problem = answer.json();
      assert.equal(problem['code'], code, body);
      if (path) assert.ok((problem['errors'] as Array<{ path: string }>).some((e) => e.path === path), `${body}: ${answer.text}`);
    }
    assert.equal((await faultStatus(server.url)).fault, null, 'nothing was set');
  });

  it('the client rejects with the problem', async () => {
    await assert.rejects(setFault(server.url, { errorRate: 2 }), (error: unknown) => {
      assert.ok(error instanceof FaultControlError);
      assert.equal(error.status, 400);
      assert.equal(error.problem?.code, 'VALIDATION_FAILED');
      assert.match(error.message, /errorRate/);
      return true;
    });
  });

  it('refuses other methods (405) and oversized bodies (413)', async () => {
    const post = await get(`${server.url}${FAULT_CONTROL_PATH}`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, PUT, DELETE');
    assert.equal(post.json()['code'], 'METHOD_NOT_ALLOWED');
    const big = await put(JSON.stringify({ latencyMs: 10, pathPrefix: `/${'x'.repeat(20_000)}` }));
    assert.equal(big.status, 413);
    assert.equal(big.json()['code'], 'PAYLOAD_TOO_LARGE');
  });

  it('answers a client on this machine, on a server listening on every address', async () => {
    // Whom it refuses is decided by isLoopback (faults.unit.test.ts): a test that needs a
    // second network interface to connect from could not run everywhere.
    const open = await startServer({ host: '0.0.0.0' });
    try {
      assert.equal((await faultStatus(open.url)).enabled, true, 'loopback clients are answered');
    } finally {
      await open.close();
    }
  });
});

describe('disabled', () => {
  it('the control endpoint falls through to the service (a normal 404 there) and nothing is faulted', async () => {
    const off = await startServer({ enabled: false });
    try {
      const answer = await get(`${off.url}${FAULT_CONTROL_PATH}`, { method: 'PUT', body: '{"errorRate":1}' });
      assert.equal(answer.status, 404);
      assert.deepEqual(off.handled, [FAULT_CONTROL_PATH], 'the handler got the request');
      await assert.rejects(faultStatus(off.url), /fault injection is not enabled at http:\/\/127\.0\.0\.1:\d+ \(it needs FAULT_INJECTION=true\)/);
      assert.equal((await get(`${off.url}/api/x`)).status, 200);
    } finally {
      await off.close();
    }
  });
});

describe('shutdown', () => {
  it('a fault and the requests it delays do not keep a closing server alive', async () => {
    const faults = fileURLToPath(new URL('./faults.ts', import.meta.url));
    // A process with a fault for an hour and a request delayed a minute: once the
    // server closes (the client gave up), the process must end on its own.
    const program = `
      import { createServer, request } from 'node:http';
      import { createFaultInjector } from ${JSON.stringify(faults)};
      const injector = createFaultInjector({ enabled: true, service: 'closing' });
      injector.set({ latencyMs: 60000, forMs: 3600000 });
      const server = createServer((req, res) => injector.around(req, res, () => res.end('ok')));
      server.listen(0, '127.0.0.1', () => {
        const client = request({ port: server.address().port, path: '/x', agent: false });
        client.on('error', () => {});
        client.end();
        const poll = setInterval(() => {
          if (injector.status().held !== 1) return;
          clearInterval(poll);
          client.destroy();
          server.close(() => process.stdout.write('closed'));
        }, 10);
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await Promise.race([new Promise<number | null>((resolve) => child.on('exit', resolve)), sleep(10_000, 'hung' as const)]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, 'the process did not end once its server closed');
    assert.equal(out, 'closed');
  });
});

// ---------------------------------------------------------------------------

const root = fileURLToPath(new URL('../../../', import.meta.url));
const node = join(root, 'node_modules/.bin/node');
const script = join(root, 'scripts/chaos.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run chaos -- …` with only the environment given (never the developer's own .bazaar). */
function chaos(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(node, [script, ...args], { env: { PATH: process.env['PATH'] ?? '', BAZAAR_STATE_DIR: join(tmpdir(), 'bazaar-chaos-none'), ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe('npm run chaos', () => {
  it('--help prints usage with exit 0; no arguments prints it with exit 2', async () => {
    const help = await chaos(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: npm run chaos/);
    const bare = await chaos([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /Usage: npm run chaos/);
  });

  it('refuses bad flags with exit 2 before asking any service', async () => {
    const url = server.url;
    const mistakes: Array<[string[], RegExp]> = [
      [['--url', url, '--latency', 'fast'], /--latency takes a time such as 500ms/],
      [['--url', url, '--latency', '121s'], /--latency is at most 2m/],
      [['--url', url, '--errors', '150%'], /--errors takes a share of requests/],
      [['--url', url, '--errors', '20'], /--errors takes a share of requests/],
      [['--url', url, '--errors', '60%', '--reset', '60%'], /adds up to more than 100%/],
      [['--url', url, '--errors', '0'], /does nothing/],
      [['--url', url, '--errors', '1', '--status', '404'], /--status must be one of 429, 500, 502, 503, 504/],
      [['--url', url, '--latency', '1s', '--status', '500'], /--status needs --errors/],
      [['--url', url, '--latency', '1s', '--for', '30'], /--for needs a unit/],
      [['--url', url, '--latency', '1s', '--from', 'nobody'], /unknown service "nobody" for --from/],
      [['--url', url, '--latency', '1s', '--path', 'api'], /--path must start with \//],
      [['--url', url, '--frobnicate'], /frobnicate/],
      [['--latency', '1s'], /say which service to break: --target/],
      [['--target', 'nowhere', '--latency', '1s'], /unknown service "nowhere" for --target/],
      [['--target', 'payments', '--url', url, '--latency', '1s'], /either --target or --url/],
      [['--instance', '1', '--latency', '1s'], /--instance needs --target/],
      [['--url', url, '--clear', '--latency', '1s'], /--latency does not go with --clear/],
      [['--url', url, '--clear', '--list'], /--list and --clear do not go together/],
      [['--url', 'ftp://example.com', '--list'], /--url must be an http\(s\) URL/],
      [['--url', url, '--state', '/tmp', '--list'], /--state does not apply with --url/],
    ];
    const before = server.injector.status();
    const runs = await Promise.all(mistakes.map(([args]) => chaos(args)));
    runs.forEach((run, i) => {
      const [args, message] = mistakes[i]!;
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /Run "npm run chaos -- --help" for usage/);
    });
    assert.deepEqual(server.injector.status(), before, 'no fault was set or cleared');
  });

  it('sets, lists and clears a fault through --url', async () => {
    const set = await chaos(['--url', server.url, '--latency', '50ms', '--jitter', '10', '--errors', '100%', '--status', '500', '--from', 'orders', '--path', '/api/payments', '--for', '30s']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^chaos-test http:\/\/127\.0\.0\.1:\d+: latency 50ms \+≤10ms, errors 100% \(500\), from orders, path \/api\/payments\*, for 30s \(until \d\d:\d\d:\d\d\)\n$/);
    assert.equal(set.stderr, '');
    assert.deepEqual(server.injector.status().fault, { latencyMs: 50, jitterMs: 10, errorRate: 1, errorStatus: 500, from: 'orders', pathPrefix: '/api/payments', forMs: 30_000 });
    assert.equal((await get(`${server.url}/api/payments/1`, { headers: { 'x-bazaar-caller': 'orders' } })).status, 500);

    const list = await chaos(['--list', '--url', server.url]);
    assert.equal(list.code, 0, list.stderr);
    const [header, row, summary] = list.stdout.split('\n');
    assert.match(header!, /^SERVICE\s+INSTANCE\s+FAULT\s+ENDS\s+SEEN\s+MATCHED\s+DELAYED\s+ERRORED\s+RESET\s+BLACKHOLED\s+HELD$/);
    assert.match(row!, /^chaos-test\s+http:\/\/127\.0\.0\.1:\d+\s+latency 50ms .*\s+\d\d:\d\d:\d\d\s+1\s+1\s+1\s+1\s+0\s+0\s+0$/);
    assert.equal(summary, '1 instance with an active fault (1 asked)');

    const json = await chaos(['--status-only', '--json', '--url', server.url]);
    assert.equal(json.code, 0);
    assert.equal((JSON.parse(json.stdout) as Array<{ status: FaultStatus }>)[0]!.status.counters.errored, 1);

    const clear = await chaos(['--clear', '--url', server.url]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /^chaos-test http:\/\/127\.0\.0\.1:\d+: fault cleared \(seen 1, matched 1, delayed 1, errored 1, reset 0, blackholed 0\)\n$/);
    assert.equal(server.injector.status().fault, null);
  });

  it('without --for says the fault stays until cleared; --blackhole alone means every request', async () => {
    const run = await chaos(['--url', server.url, '--blackhole']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /blackhole 100%, until cleared/);
    assert.match(run.stderr, new RegExp(`no --for given: the fault stays until you run  npm run chaos -- --clear --url ${server.url}`));
    assert.deepEqual(server.injector.status().fault, { blackholeRate: 1 });

    const partial = await chaos(['--url', server.url, '--blackhole', '25%', '--reset', '0.25', '--for', '1m']);
    assert.equal(partial.code, 0, partial.stderr);
    assert.deepEqual(server.injector.status().fault, { blackholeRate: 0.25, resetRate: 0.25, forMs: 60_000 });
  });

  it('says so when the service has fault injection off, or cannot be reached (exit 1)', async () => {
    const off = await startServer({ enabled: false });
    try {
      const run = await chaos(['--url', off.url, '--latency', '1s']);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /could not set the fault on http:\/\/127\.0\.0\.1:\d+: fault injection is not enabled .*FAULT_INJECTION=true/);
    } finally {
      await off.close();
    }
    const gone = await chaos(['--url', 'http://127.0.0.1:9', '--list']);
    assert.equal(gone.code, 1);
    assert.match(gone.stdout, /http:\/\/127\.0\.0\.1:9\s+cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  describe('with a running system (runtime.json)', () => {
    let state: string;
    let payments1: TestServer;
    let payments2: TestServer;
    let orders: TestServer;

    before(async () => {
      [payments1, payments2, orders] = await Promise.all([startServer({ service: 'payments' }), startServer({ service: 'payments' }), startServer({ service: 'orders' })]);
      state = await mkdtemp(join(tmpdir(), 'bazaar-chaos-'));
      const runtime = {
        pid: process.pid,
        gateway: 'http://127.0.0.1:1',
        broker: 'nats://127.0.0.1:4222',
        databases: {},
        services: { payments: payments1.url, orders: orders.url },
        instances: {
          payments: [
            { url: payments1.url, pid: process.pid, replica: 1 },
            { url: payments2.url, pid: process.pid, replica: 2 },
          ],
          orders: [{ url: orders.url, pid: process.pid, replica: 1 }],
        },
      };
      await writeFile(join(state, 'runtime.json'), JSON.stringify(runtime));
    });

    after(async () => {
      await Promise.all([payments1.close(), payments2.close(), orders.close()]);
      await rm(state, { recursive: true, force: true });
    });

    it('--target breaks every instance of the service, --instance one of them', async () => {
      const all = await chaos(['--state', state, '--target', 'payments', '--errors', '100%', '--for', '10s']);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /payments#1 .*errors 100% \(503\)/);
      assert.match(all.stdout, /payments#2 .*errors 100% \(503\)/);
      assert.equal(payments1.injector.status().fault?.errorRate, 1);
      assert.equal(payments2.injector.status().fault?.errorRate, 1);
      assert.equal(orders.injector.status().fault, null);

      const one = await chaos(['--target', 'orders', '--instance', '1', '--latency', '2s', '--for', '10s'], { BAZAAR_STATE_DIR: state });
      assert.equal(one.code, 0, one.stderr);
      assert.equal(orders.injector.status().fault?.latencyMs, 2000);

      const byUrl = await chaos(['--state', state, '--target', 'payments', '--instance', payments2.url, '--reset', '10%', '--for', '10s']);
      assert.equal(byUrl.code, 0, byUrl.stderr);
      assert.equal(payments2.injector.status().fault?.resetRate, 0.1);
      assert.equal(payments1.injector.status().fault?.errorRate, 1, 'the other replica keeps its fault');

      const wrong = await chaos(['--state', state, '--target', 'payments', '--instance', '7', '--latency', '1s']);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /payments has no instance "7"; its instances: 1 \(http.*\), 2 \(http.*\)/);

      const missing = await chaos(['--state', state, '--target', 'shipping', '--latency', '1s']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /shipping is not running in this system/);
    });

    it('--list shows every instance; --clear without a target clears them all', async () => {
      const list = await chaos(['--state', state, '--list']);
      assert.equal(list.code, 0, list.stderr);
      const rows = list.stdout.trim().split('\n');
      assert.equal(rows.length, 5, list.stdout);
      assert.match(rows[1]!, /^payments#1 /);
      assert.match(rows[2]!, /^payments#2 /);
      assert.match(rows[3]!, /^orders#1 /);
      assert.equal(rows[4], '3 instances with an active fault (3 asked)');

      const clear = await chaos(['--state', state, '--clear']);
      assert.equal(clear.code, 0, clear.stderr);
      for (const s of [payments1, payments2, orders]) assert.equal(s.injector.status().fault, null);
    });

    it('says when no system runs there, or the launcher is gone', async () => {
      const empty = await mkdtemp(join(tmpdir(), 'bazaar-chaos-empty-'));
      try {
        const none = await chaos(['--state', empty, '--list']);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /no running system at .*bazaar-chaos-empty-.* \(start one with npm start/);

        const exited = spawn(process.execPath, ['-e', '']);
        const deadPid = exited.pid!;
        await new Promise((resolve) => exited.on('exit', resolve));
        await writeFile(join(empty, 'runtime.json'), JSON.stringify({ pid: deadPid, services: { payments: payments1.url } }));
        const stale = await chaos(['--state', empty, '--list']);
        assert.equal(stale.code, 1);
        assert.match(stale.stderr, new RegExp(`left over from a launcher \\(pid ${deadPid}\\) that is gone`));
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    });
  });
});
