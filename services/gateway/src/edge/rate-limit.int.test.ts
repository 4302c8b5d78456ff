import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { TcpProxy } from '@bazaar/chassis/testing/tcp-proxy';
import { createRateLimiter, type RateLimiter, type RateLimitOptions } from './rate-limit.ts';

/**
 * The shared limits against a real Redis (`TEST_REDIS_URL`, default the local
 * one). Not skipped without Redis: a silently skipped store would pass for
 * working. Each test uses its own key prefix.
 */
const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

describe('rate limiter over Redis (shared by gateway replicas)', () => {
  let admin: Redis;
  const limiters: RateLimiter[] = [];
  const prefixes: string[] = [];

  const replica = (options: Partial<RateLimitOptions> & { keyPrefix: string }): RateLimiter => {
    const limiter = createRateLimiter({ perIpPerMinute: 100, perUserPerMinute: 100, redisUrl, ...options });
    limiters.push(limiter);
    return limiter;
  };
  const freshPrefix = (): string => {
    const prefix = `bazaar-test:rl:${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    return prefix;
  };
  /** `connected()` resolved: the very next check of this replica lands in Redis (while connecting, its insurance limiter would answer). */
  const connected = async (limiter: RateLimiter, prefix: string): Promise<void> => {
    await limiter.connected();
    const probe = `probe-${randomUUID()}`;
    await limiter.check({ ip: probe });
    assert.equal(await admin.exists(`${prefix}:ip:${probe}`), 1, 'the first check after connected() is counted in Redis');
  };
  /** Until a check of this replica lands in Redis again (after an outage, while reconnecting, its insurance limiter answers). */
  const reconnected = async (limiter: RateLimiter, prefix: string): Promise<void> => {
    const probe = `probe-${randomUUID()}`;
    await waitUntil(async () => {
      await limiter.check({ ip: probe });
      return (await admin.exists(`${prefix}:ip:${probe}`)) === 1;
    });
  };

  before(async () => {
    admin = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await admin.connect();
      await admin.ping();
    } catch (error) {
      admin.disconnect();
      throw new Error(`Redis is not reachable at ${redisUrl} (${(error as Error).message}); these tests are not skipped without it.`, { cause: error });
    }
  });
  after(async () => {
    await Promise.allSettled(limiters.map((limiter) => limiter.close()));
    for (const prefix of prefixes) {
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    await admin.quit();
  });

  it('shares one budget between two replicas with the same key prefix', async () => {
    const keyPrefix = freshPrefix();
    const first = replica({ keyPrefix, perIpPerMinute: 10 });
    const second = replica({ keyPrefix, perIpPerMinute: 10 });
    assert.equal(first.store, 'redis');
    await connected(first, keyPrefix);
    await connected(second, keyPrefix);
    const decisions = [];
    for (let i = 0; i < 14; i += 1) decisions.push(await (i % 2 === 0 ? first : second).check({ ip: '203.0.113.50' }));
    assert.equal(decisions.filter((d) => d.allowed).length, 10, 'exactly the budget, across both replicas');
    assert.deepEqual(decisions.map((d) => d.allowed), [...Array<boolean>(10).fill(true), ...Array<boolean>(4).fill(false)]);
    assert.deepEqual(decisions.slice(0, 10).map((d) => d.headers['ratelimit-remaining']), ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
    for (const refused of decisions.slice(10)) {
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(refused.refusedBy, 'ip');
    }
    const ttl = await admin.pttl(`${keyPrefix}:ip:203.0.113.50`);
    assert.ok(ttl > 0 && ttl <= 60_000, `the window expires in Redis (pttl ${ttl})`);
  });

  it('keeps budgets apart for replicas with different prefixes', async () => {
    const one = freshPrefix();
    const other = freshPrefix();
    const a = replica({ keyPrefix: one, perIpPerMinute: 2 });
    const b = replica({ keyPrefix: other, perIpPerMinute: 2 });
    await connected(a, one);
    await connected(b, other);
    await a.check({ ip: '203.0.113.60' });
    await a.check({ ip: '203.0.113.60' });
    assert.equal((await a.check({ ip: '203.0.113.60' })).allowed, false);
    assert.equal((await b.check({ ip: '203.0.113.60' })).allowed, true);
  });

  it('limits users and addresses independently, across replicas', async () => {
    const keyPrefix = freshPrefix();
    const first = replica({ keyPrefix, perIpPerMinute: 6, perUserPerMinute: 3 });
    const second = replica({ keyPrefix, perIpPerMinute: 6, perUserPerMinute: 3 });
    await connected(first, keyPrefix);
    await connected(second, keyPrefix);
    assert.equal((await first.check({ ip: '198.51.100.10', user: 'alice' })).allowed, true);
    assert.equal((await second.check({ ip: '198.51.100.11', user: 'alice' })).allowed, true);
    assert.equal((await first.check({ ip: '198.51.100.12', user: 'alice' })).allowed, true);
    const refusedUser = await second.check({ ip: '198.51.100.13', user: 'alice' });
    assert.equal(refusedUser.allowed, false, "alice's budget is spent, whatever her address");
    assert.equal(refusedUser.refusedBy, 'user');
    assert.equal(refusedUser.headers['ratelimit-limit'], '3');
    assert.ok(Number(refusedUser.headers['retry-after']) >= 1);
    assert.equal((await first.check({ ip: '198.51.100.13', user: 'bob' })).allowed, true, "alice's last address is not blocked for bob");
    assert.equal((await first.check({ ip: '198.51.100.13' })).allowed, true);

    // Exhaust one address with anonymous requests: a fresh user behind it is refused too.
    for (let i = 0; i < 6; i += 1) await second.check({ ip: '198.51.100.20' });
    const refusedIp = await first.check({ ip: '198.51.100.20', user: 'carol' });
    assert.equal(refusedIp.allowed, false);
    assert.equal(refusedIp.refusedBy, 'ip');
    assert.equal((await first.check({ ip: '198.51.100.21', user: 'carol' })).allowed, true, 'carol elsewhere still has her budget');
  });

  it('answers from the insurance limiter at once when Redis is not there, and logs it once without secrets', async () => {
    const closedPort = await freePort();
    const log = new RecordingLog();
    const limiter = createRateLimiter({ perIpPerMinute: 5, perUserPerMinute: 5, redisUrl: `redis://:s3cret-pass@127.0.0.1:${closedPort}`, keyPrefix: freshPrefix(), log });
    limiters.push(limiter);
    assert.equal(limiter.store, 'redis');
    const waiting = performance.now();
    await limiter.connected();
    assert.ok(performance.now() - waiting < 2_000, 'start-up waits for an unreachable store at most its connect timeout');
    const decisions = [];
    const started = performance.now();
    for (let i = 0; i < 7; i += 1) decisions.push(await limiter.check({ ip: '192.0.2.77' }));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `7 checks took ${Math.round(elapsed)} ms`);
    assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, true, true, false, false], 'the budget still holds, per replica');
    assert.ok(Number(decisions[6]!.headers['retry-after']) >= 1);
    // Let ioredis fail a few reconnection attempts: still a single line.
    await sleep(700);
    for (let i = 0; i < 5; i += 1) await limiter.check({ ip: '192.0.2.78' });
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1, JSON.stringify(log.lines));
    assert.doesNotMatch(JSON.stringify(log.lines), /s3cret/);
    assert.match(JSON.stringify(log.lines), new RegExp(`127\\.0\\.0\\.1:${closedPort}`));
  });

  it('never waits on a Redis that accepts connections but does not answer', async () => {
    const silent = await listen(createServer(() => {}));
    const limiter = createRateLimiter({ perIpPerMinute: 5, perUserPerMinute: 5, redisUrl: `redis://127.0.0.1:${port(silent)}`, keyPrefix: freshPrefix() });
    limiters.push(limiter);
    try {
      const started = performance.now();
      for (let i = 0; i < 3; i += 1) assert.equal((await limiter.check({ ip: '192.0.2.90' })).allowed, true);
      assert.ok(performance.now() - started < 500, `took ${Math.round(performance.now() - started)} ms`);
    } finally {
      await limiter.close();
      silent.close();
    }
  });

  it('degrades to per-replica limits during an outage and shares the budget again after it', async () => {
    const keyPrefix = freshPrefix();
    const proxy = await TcpProxy.start(new URL(redisUrl), 6379);
    const log = new RecordingLog();
    const through = `redis://127.0.0.1:${proxy.port}`;
    const first = replica({ keyPrefix, perIpPerMinute: 4, redisUrl: through, log });
    const second = replica({ keyPrefix, perIpPerMinute: 4, redisUrl: through });
    try {
      await connected(first, keyPrefix);
      await connected(second, keyPrefix);
      assert.equal((await first.check({ ip: '198.51.100.30' })).allowed, true);
      assert.equal((await second.check({ ip: '198.51.100.30' })).allowed, true);

      // Redis stops answering while connected (a frozen process, a network partition): commands time out.
      proxy.freeze();
      let started = performance.now();
      assert.equal((await first.check({ ip: '198.51.100.31' })).allowed, true);
      assert.ok(performance.now() - started < 1_000, `a stalled Redis cost ${Math.round(performance.now() - started)} ms`);

      // Redis gone: each replica counts on its own, and answers at once.
      proxy.cut();
      await sleep(100);
      started = performance.now();
      const during = [];
      for (let i = 0; i < 5; i += 1) during.push(await first.check({ ip: '198.51.100.32' }));
      for (let i = 0; i < 5; i += 1) during.push(await second.check({ ip: '198.51.100.32' }));
      assert.ok(performance.now() - started < 500, `10 checks during the outage took ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(during.map((d) => d.allowed), [true, true, true, true, false, true, true, true, true, false], 'a budget per replica');
      assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1);

      // Back: shared again once reconnected.
      await proxy.restore();
      await reconnected(first, keyPrefix);
      await reconnected(second, keyPrefix);
      assert.ok(log.lines.some((l) => l.level === 'info'), 'the recovery is logged');
      const afterwards = [];
      for (let i = 0; i < 6; i += 1) afterwards.push(await (i % 2 === 0 ? first : second).check({ ip: '198.51.100.33' }));
      assert.deepEqual(afterwards.map((d) => d.allowed), [true, true, true, true, false, false]);
    } finally {
      await proxy.close();
    }
  });

  it('closes without waiting for an unreachable Redis', async () => {
    const limiter = createRateLimiter({ perIpPerMinute: 1, perUserPerMinute: 1, redisUrl: `redis://127.0.0.1:${await freePort()}`, keyPrefix: freshPrefix() });
    await limiter.check({ ip: '192.0.2.1' });
    const started = performance.now();
    await limiter.close();
    assert.ok(performance.now() - started < 200);
  });
});

class RecordingLog {
  readonly lines: { level: 'warn' | 'info'; fields: unknown; message: string | undefined }[] = [];
  warn = (fields: unknown, message?: string): void => {
    this.lines.push({ level: 'warn', fields, message });
  };
  info = (fields: unknown, message?: string): void => {
    this.lines.push({ level: 'info', fields, message });
  };
}

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = await listen(createServer());
  const free = port(server);
  await new Promise((resolve) => server.close(resolve));
  return free;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
