import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { JWKS_PATH } from '@bazaar/chassis';
import { connectSharedRedis, type SharedRedis } from '@bazaar/chassis/redis';
import { identityService } from '../app.ts';
import { pruneLoginAttempts } from '../security/login-throttle.ts';
import { startIdentity, strongPassword, uniqueEmail, type IdentityUnderTest } from '../testing/harness.ts';

let identity: IdentityUnderTest;
before(async () => {
  identity = await startIdentity();
});
after(() => identity?.close());

const login = (email: string, password: string, remoteAddress = '198.51.100.1') =>
  identity.app.inject({ method: 'POST', url: '/api/identity/login', remoteAddress, payload: { email, password } });

async function registered(label = 'login') {
  const email = uniqueEmail(label);
  const password = strongPassword();
  const res = await identity.app.inject({ method: 'POST', url: '/api/identity/register', payload: { email, password, name: label } });
  assert.equal(res.statusCode, 201);
  return { id: res.json().id as string, email, password };
}

/**
 * Registers an account on the first replica, fails its password five times alternating
 * over `apps` (each from another address of `network`, so only the account's limit can
 * trip), then wants the right password refused with 429 by every replica.
 */
async function accountLockedAcross(apps: Array<IdentityUnderTest['app']>, label: string, network: string): Promise<void> {
  const email = uniqueEmail(label);
  const password = strongPassword();
  assert.equal((await apps[0]!.inject({ method: 'POST', url: '/api/identity/register', payload: { email, password, name: label } })).statusCode, 201);
  for (let i = 0; i < 5; i++) {
    const res = await apps[i % apps.length]!.inject({ method: 'POST', url: '/api/identity/login', remoteAddress: `${network}.${i + 10}`, payload: { email, password: 'wrong-password-guess' } });
    assert.equal(res.statusCode, 401, `attempt ${i + 1}`);
  }
  for (const app of apps) {
    const refused = await app.inject({ method: 'POST', url: '/api/identity/login', remoteAddress: `${network}.99`, payload: { email, password } });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().code, 'LOGIN_THROTTLED');
  }
}

/** A problem document without the parts that differ per request. */
function comparable(body: Record<string, unknown>) {
  const { requestId: _requestId, instance: _instance, ...rest } = body;
  return rest;
}

describe('POST /api/identity/login', () => {
  it('issues an EdDSA access token that verifies against the published JWKS', async () => {
    const user = await registered();
    const res = await login(` ${user.email.toUpperCase()} `, user.password);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'tokenType']);
    assert.equal(body.tokenType, 'Bearer');
    assert.equal(body.expiresIn, 900);
    assert.match(body.refreshToken, /^[A-Za-z0-9_-]{43}$/);

    const header = decodeProtectedHeader(body.accessToken);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(typeof header.kid, 'string');

    const jwks = await identity.app.inject({ url: JWKS_PATH });
    assert.equal(jwks.statusCode, 200);
    const { payload } = await jwtVerify(body.accessToken, createLocalJWKSet(jwks.json()), {
      algorithms: ['EdDSA'],
      issuer: 'bazaar-identity',
      audience: 'bazaar',
    });
    assert.equal(payload.sub, user.id);
    assert.equal(payload['email'], user.email);
    assert.deepEqual(payload['roles'], ['customer']);
    assert.equal(payload.exp! - payload.iat!, 900);
    assert.ok(Math.abs(payload.iat! - Date.now() / 1000) < 10);

    // The same token is refused for another audience or issuer.
    await assert.rejects(jwtVerify(body.accessToken, createLocalJWKSet(jwks.json()), { algorithms: ['EdDSA'], issuer: 'bazaar-identity', audience: 'elsewhere' }));
    await assert.rejects(jwtVerify(body.accessToken, createLocalJWKSet(jwks.json()), { algorithms: ['EdDSA'], issuer: 'someone-else', audience: 'bazaar' }));
  });

  it('answers a wrong password and an unknown email identically', async () => {
    const user = await registered();
    const wrongPassword = await login(user.email, `${user.password}x`);
    const unknownUser = await login(uniqueEmail('nobody'), user.password);
    assert.equal(wrongPassword.statusCode, 401);
    assert.equal(unknownUser.statusCode, 401);
    assert.equal(wrongPassword.json().code, 'INVALID_CREDENTIALS');
    assert.deepEqual(comparable(wrongPassword.json()), comparable(unknownUser.json()));
    for (const header of ['content-type', 'www-authenticate', 'retry-after', 'cache-control']) {
      assert.equal(wrongPassword.headers[header], unknownUser.headers[header], header);
    }
  });

  it('refuses an unknown body field and a missing password with 400', async () => {
    const extra = await identity.app.inject({ method: 'POST', url: '/api/identity/login', payload: { email: 'a@example.com', password: 'x', remember: true } });
    assert.equal(extra.statusCode, 400);
    assert.equal(extra.json().code, 'VALIDATION_FAILED');
    const missing = await identity.app.inject({ method: 'POST', url: '/api/identity/login', payload: { email: 'a@example.com' } });
    assert.equal(missing.json().code, 'VALIDATION_FAILED');
  });

  it('throttles an account after 5 failures with 429 and Retry-After, even for the right password', async () => {
    const user = await registered('throttled');
    for (let i = 0; i < 5; i++) {
      const res = await login(user.email, 'wrong-password-guess', `203.0.113.${i + 1}`);
      assert.equal(res.statusCode, 401, `attempt ${i + 1}`);
    }
    const refused = await login(user.email.toUpperCase(), user.password, '203.0.113.50');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().code, 'LOGIN_THROTTLED');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 900, `Retry-After ${refused.headers['retry-after']}`);

    // Other accounts are not affected.
    const other = await registered('unaffected');
    assert.equal((await login(other.email, other.password, '203.0.113.50')).statusCode, 200);
  });

  it('throttles unknown emails exactly like known ones', async () => {
    const email = uniqueEmail('ghost');
    for (let i = 0; i < 5; i++) assert.equal((await login(email, 'guess-guess-guess', `203.0.114.${i + 1}`)).statusCode, 401);
    assert.equal((await login(email, 'guess-guess-guess', '203.0.114.9')).statusCode, 429);
  });

  it('resets the account counter after a successful login', async () => {
    const user = await registered('resets');
    for (let i = 0; i < 4; i++) assert.equal((await login(user.email, 'wrong-password-guess')).statusCode, 401);
    assert.equal((await login(user.email, user.password)).statusCode, 200);
    for (let i = 0; i < 4; i++) assert.equal((await login(user.email, 'wrong-password-guess')).statusCode, 401, `attempt ${i + 1} after success`);
  });

  it('throttles a client address after 20 failures across accounts', async () => {
    const address = '198.51.100.77';
    for (let i = 0; i < 20; i++) assert.equal((await login(uniqueEmail('spray'), 'guess-guess-guess', address)).statusCode, 401);
    const refused = await login(uniqueEmail('spray'), 'guess-guess-guess', address);
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().code, 'LOGIN_THROTTLED');
    assert.ok(Number(refused.headers['retry-after']) <= 60);
    // A legitimate user elsewhere still gets in.
    const user = await registered('elsewhere');
    assert.equal((await login(user.email, user.password, '198.51.100.78')).statusCode, 200);
  });
});

describe('POST /api/identity/login on two replicas without Redis (the default)', () => {
  it('counts an account’s failures in the database both replicas share: the 6th attempt is refused whichever answers', async () => {
    const second = await identity.replica();
    await accountLockedAcross([identity.app, second.app], 'replicas', '198.51.101');
  });

  it('counts a client address over both replicas', async () => {
    const second = await identity.replica();
    const address = '198.51.101.200';
    for (let i = 0; i < 20; i++) {
      const res = await [identity.app, second.app][i % 2]!.inject({ method: 'POST', url: '/api/identity/login', remoteAddress: address, payload: { email: uniqueEmail('spray'), password: 'guess-guess-guess' } });
      assert.equal(res.statusCode, 401, `attempt ${i + 1}`);
    }
    const refused = await second.app.inject({ method: 'POST', url: '/api/identity/login', remoteAddress: address, payload: { email: uniqueEmail('spray'), password: 'guess-guess-guess' } });
    assert.equal(refused.statusCode, 429);
  });

  it('counts the longest email a login accepts (320 characters)', async () => {
    const email = `${'a'.repeat(308)}@example.com`;
    assert.equal(email.length, 320);
    const res = await login(email, 'guess-guess-guess', '198.51.101.201');
    assert.equal(res.statusCode, 401, res.body);
  });

  it('prunes counters an hour past their window, and only those', async () => {
    const now = Date.now();
    await identity.db.query(`INSERT INTO login_attempts (key, points, expire) VALUES ('prune-test:old', 3, $1), ('prune-test:recent', 3, $2), ('prune-test:open', 3, $3)`, [
      now - 3_600_001,
      now - 3_599_000,
      now + 60_000,
    ]);
    assert.ok((await pruneLoginAttempts(identity.db, now)) >= 1);
    const left = await identity.db.query<{ key: string }>(`SELECT key FROM login_attempts WHERE key LIKE 'prune-test:%' ORDER BY key`);
    assert.deepEqual(left.rows.map((row) => row.key), ['prune-test:open', 'prune-test:recent']);
  });
});

describe('POST /api/identity/login on two replicas sharing Redis (REDIS_URL)', () => {
  const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const prefix = `bazaar-test:login:${randomUUID().slice(0, 8)}`;
  let shared: IdentityUnderTest;
  let admin: SharedRedis;
  before(async () => {
    admin = connectSharedRedis(redisUrl, { connectionName: 'bazaar-test-admin', degraded: 'down', restored: 'up' });
    await admin.connected;
    assert.equal(admin.redis.status, 'ready', `Redis must be reachable at ${redisUrl} (start it, or set TEST_REDIS_URL)`);
    shared = await startIdentity({ REDIS_URL: redisUrl, LOGIN_THROTTLE_REDIS_PREFIX: prefix });
  });
  after(async () => {
    await shared?.close();
    const keys = await admin.redis.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.redis.del(...keys);
    await admin.close();
  });

  it('counts an account’s failures over both replicas: the 6th attempt is refused whichever answers', async () => {
    const second = await shared.replica();
    await identityService.onStart!(second.context); // as a started replica: waits for its Redis connection
    await accountLockedAcross([shared.app, second.app], 'shared-throttle', '198.51.100');
  });
});
