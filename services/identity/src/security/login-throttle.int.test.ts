import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '@bazaar/chassis';
import { connectSharedRedis, type SharedRedis } from '@bazaar/chassis/redis';
import { LoginThrottle } from './login-throttle.ts';

/**
 * The login limits shared by identity replicas through a real Redis
 * (`TEST_REDIS_URL`, default the local one). Not skipped without Redis: a
 * silently skipped store would pass for working. Each test uses its own prefix.
 */
const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const budgets = { accountMaxFailures: 3, accountWindowSeconds: 900, ipMaxFailures: 50, ipWindowSeconds: 60 };

async function refused(attempt: Promise<void>): Promise<AppError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof AppError, `expected LOGIN_THROTTLED, got ${String(error)}`);
  assert.equal(error.code, 'LOGIN_THROTTLED');
  return error;
}

describe('login throttle over Redis (shared by identity replicas)', () => {
  let admin: SharedRedis;
  const throttles: LoginThrottle[] = [];
  const prefixes: string[] = [];
  const replica = (prefix: string, url = redisUrl): LoginThrottle => {
    const throttle = new LoginThrottle({ ...budgets, redisUrl: url, keyPrefix: prefix });
    throttles.push(throttle);
    return throttle;
  };
  const freshPrefix = (): string => {
    const prefix = `bazaar-test:login:${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    return prefix;
  };

  before(async () => {
    admin = connectSharedRedis(redisUrl, { connectionName: 'bazaar-test-admin', degraded: 'down', restored: 'up' });
    await admin.connected;
    assert.equal(admin.redis.status, 'ready', `Redis must be reachable at ${redisUrl} (start it, or set TEST_REDIS_URL)`);
  });
  after(async () => {
    await Promise.all(throttles.map((t) => t.close()));
    for (const prefix of prefixes) {
      const keys = await admin.redis.keys(`${prefix}:*`);
      if (keys.length > 0) await admin.redis.del(...keys);
    }
    await admin.close();
  });

  it('counts an account’s failures over every replica: the attempt after the budget is refused on any of them', async () => {
    const prefix = freshPrefix();
    const [first, second] = [replica(prefix), replica(prefix)];
    await Promise.all([first.connected(), second.connected()]);
    assert.equal(first.store, 'redis');
    await first.attempt('ada@example.com', '10.0.0.1');
    await second.attempt('ada@example.com', '10.0.0.2');
    await first.attempt('ada@example.com', '10.0.0.3');
    const error = await refused(second.attempt('ada@example.com', '10.0.0.4'));
    assert.ok(Number(error.headers['retry-after']) > 800);
    await refused(first.attempt('ada@example.com', '10.0.0.5'));
    assert.equal(await admin.redis.exists(`${prefix}:account:ada@example.com`), 1);
    // Another prefix (another system) does not share the count.
    await replica(freshPrefix()).attempt('ada@example.com', '10.0.0.6');
  });

  it('a success on one replica resets the account for all', async () => {
    const prefix = freshPrefix();
    const [first, second] = [replica(prefix), replica(prefix)];
    await Promise.all([first.connected(), second.connected()]);
    await first.attempt('bob@example.com', '10.0.1.1');
    await first.attempt('bob@example.com', '10.0.1.1');
    await first.succeeded('bob@example.com', '10.0.1.1');
    for (let i = 0; i < 3; i++) await second.attempt('bob@example.com', '10.0.1.2');
    await refused(second.attempt('bob@example.com', '10.0.1.2'));
  });

  it('keeps limiting from memory when Redis cannot be reached, and starts within the connect timeout', async () => {
    const throttle = replica(freshPrefix(), 'redis://127.0.0.1:1');
    const started = performance.now();
    await throttle.connected();
    assert.ok(performance.now() - started < 1_500, 'connected() gives up after the connect timeout');
    for (let i = 0; i < 3; i++) await throttle.attempt('eve@example.com', '10.0.2.1');
    await refused(throttle.attempt('eve@example.com', '10.0.2.1'));
  });
});
