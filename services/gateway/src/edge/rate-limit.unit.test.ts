import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter, rateLimitExceeded } from './rate-limit.ts';

describe('rate limiter in memory (one gateway replica, no Redis)', () => {
  it('allows the per-IP budget, then refuses with Retry-After and RateLimit headers', async () => {
    const limiter = createRateLimiter({ perIpPerMinute: 3, perUserPerMinute: 100 });
    assert.equal(limiter.store, 'memory');
    const decisions = [];
    for (let i = 0; i < 4; i += 1) decisions.push(await limiter.check({ ip: '203.0.113.7' }));
    assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false]);
    assert.deepEqual(decisions.map((d) => d.headers['ratelimit-remaining']), ['2', '1', '0', '0']);
    const first = decisions[0]!;
    assert.equal(first.headers['ratelimit-limit'], '3');
    assert.equal(first.headers['ratelimit-policy'], '3;w=60');
    assert.equal(first.headers['retry-after'], undefined, 'no Retry-After on an allowed request');
    const refused = decisions[3]!;
    assert.equal(refused.refusedBy, 'ip');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers['ratelimit-reset'], refused.headers['retry-after']);
    assert.equal((await limiter.check({ ip: '203.0.113.8' })).allowed, true, 'another address has its own budget');
    await limiter.close();
  });

  it('counts an authenticated caller against both its IP and its user budget', async () => {
    const limiter = createRateLimiter({ perIpPerMinute: 10, perUserPerMinute: 3 });
    const decisions = [];
    for (let i = 0; i < 4; i += 1) decisions.push(await limiter.check({ ip: '198.51.100.1', user: 'alice' }));
    assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false]);
    const first = decisions[0]!;
    assert.equal(first.headers['ratelimit-limit'], '3', 'the headers describe the tighter budget');
    assert.equal(first.headers['ratelimit-remaining'], '2');
    assert.equal(first.headers['ratelimit-policy'], '3;w=60, 10;w=60');
    assert.equal(decisions[3]!.refusedBy, 'user');
    assert.equal((await limiter.check({ ip: '198.51.100.2', user: 'alice' })).refusedBy, 'user', 'the user budget follows the user across addresses');
    assert.equal((await limiter.check({ ip: '198.51.100.1' })).allowed, true, 'the address still has budget for others');
    assert.equal((await limiter.check({ ip: '198.51.100.1', user: 'bob' })).allowed, true);
  });

  it('refuses a fresh user on an exhausted address', async () => {
    const limiter = createRateLimiter({ perIpPerMinute: 2, perUserPerMinute: 50 });
    await limiter.check({ ip: '192.0.2.1' });
    await limiter.check({ ip: '192.0.2.1' });
    const refused = await limiter.check({ ip: '192.0.2.1', user: 'carol' });
    assert.equal(refused.allowed, false);
    assert.equal(refused.refusedBy, 'ip');
    assert.equal(refused.headers['ratelimit-limit'], '2', 'the headers describe the budget that refused');
    assert.equal(refused.headers['ratelimit-remaining'], '0');
  });
});

describe('rateLimitExceeded', () => {
  it('answers RATE_LIMITED, naming the budget that ran out', () => {
    assert.equal(rateLimitExceeded().code, 'RATE_LIMITED');
    assert.match(rateLimitExceeded('ip').message, /address/);
    assert.equal(rateLimitExceeded('user').code, 'RATE_LIMITED');
    assert.match(rateLimitExceeded('user').message, /account/);
  });
});
