import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { JWKS_PATH } from '@bazaar/chassis';
import { bearer, startIdentity, type IdentityUnderTest } from '../testing/harness.ts';

let identity: IdentityUnderTest;
before(async () => {
  identity = await startIdentity();
});
after(() => identity?.close());

const jwks = async () => {
  const res = await identity.app.inject({ url: JWKS_PATH });
  assert.equal(res.statusCode, 200);
  return res.json() as { keys: Array<JWK & { kid: string }> };
};
const me = (token: string) => identity.app.inject({ url: '/api/identity/me', headers: bearer(token) });
const rotate = (token?: string) => identity.app.inject({ method: 'POST', url: '/api/identity/keys/rotate', headers: token ? bearer(token) : {} });

async function adminToken(): Promise<string> {
  return (await identity.login(identity.admin.email, identity.admin.password)).accessToken;
}

async function verifiesAgainstJwks(token: string): Promise<boolean> {
  const set = createLocalJWKSet(await jwks());
  return jwtVerify(token, set, { algorithms: ['EdDSA'], issuer: 'bazaar-identity', audience: 'bazaar' }).then(
    () => true,
    () => false,
  );
}

/** The active private key, read from the table: lets tests mint tokens the service itself would accept but for one claim. */
async function activeSigningKey(): Promise<{ kid: string; key: CryptoKey }> {
  const { rows } = await identity.db.query<{ kid: string; private_jwk: JWK }>('SELECT kid, private_jwk FROM signing_keys WHERE retired_at IS NULL');
  return { kid: rows[0]!.kid, key: (await importJWK(rows[0]!.private_jwk, 'EdDSA')) as CryptoKey };
}

async function mint(userId: string, overrides: { payload?: JWTPayload; aud?: string; iss?: string; exp?: number; iat?: number; key?: CryptoKey; kid?: string } = {}) {
  const signing = await activeSigningKey();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: 'x@example.com', roles: ['customer'], ...overrides.payload })
    .setProtectedHeader({ alg: 'EdDSA', kid: overrides.kid ?? signing.kid })
    .setSubject(userId)
    .setIssuer(overrides.iss ?? 'bazaar-identity')
    .setAudience(overrides.aud ?? 'bazaar')
    .setIssuedAt(overrides.iat ?? now)
    .setExpirationTime(overrides.exp ?? now + 300)
    .sign(overrides.key ?? signing.key);
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('GET /api/identity/.well-known/jwks.json', () => {
  it('publishes public Ed25519 keys only, cacheable for 5 minutes', async () => {
    const res = await identity.app.inject({ url: JWKS_PATH });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=300');
    const { keys } = res.json();
    assert.equal(keys.length, 1);
    assert.deepEqual(Object.keys(keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(keys[0].kty, 'OKP');
    assert.equal(keys[0].crv, 'Ed25519');
    assert.equal(keys[0].alg, 'EdDSA');
    assert.equal(keys[0].use, 'sig');
    assert.doesNotMatch(res.body, /"d"/);
  });

  it('is the key the tokens are signed with', async () => {
    const token = await adminToken();
    assert.equal(decodeProtectedHeader(token).kid, (await jwks()).keys[0]!.kid);
  });
});

describe('POST /api/identity/keys/rotate', () => {
  it('is for admins only', async () => {
    const customer = await identity.customer('rotator');
    const forbidden = await rotate(customer.accessToken);
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json().code, 'FORBIDDEN');
    assert.equal((await rotate()).statusCode, 401);
    assert.equal((await jwks()).keys.length, 1);
  });

  it('signs with a new key while tokens signed with the old one keep verifying', async () => {
    const customer = await identity.customer('before-rotation');
    const oldKid = decodeProtectedHeader(customer.accessToken).kid;

    const res = await rotate(await adminToken());
    assert.equal(res.statusCode, 201);
    const { kid } = res.json();
    assert.notEqual(kid, oldKid);

    const { keys } = await jwks();
    assert.deepEqual(keys.map((k) => k.kid).sort(), [kid, oldKid].sort());

    // Old token: still accepted by identity and by anyone verifying with the JWKS.
    assert.equal((await me(customer.accessToken)).statusCode, 200);
    assert.ok(await verifiesAgainstJwks(customer.accessToken));

    // New tokens use the new key.
    const fresh = await identity.login(customer.email, customer.password);
    assert.equal(decodeProtectedHeader(fresh.accessToken).kid, kid);
    assert.ok(await verifiesAgainstJwks(fresh.accessToken));
    assert.equal((await me(fresh.accessToken)).statusCode, 200);

    const { rows } = await identity.db.query<{ active: number; retiring: number }>(
      `SELECT count(*) FILTER (WHERE retired_at IS NULL)::int AS active,
              count(*) FILTER (WHERE retired_at > now() + interval '900 seconds')::int AS retiring
         FROM signing_keys`,
    );
    assert.deepEqual(rows[0], { active: 1, retiring: 1 });
  });

  it('is picked up by another replica sharing the database', async () => {
    const replica = await identity.replica();
    const before = await replica.app.inject({ url: JWKS_PATH });
    const res = await rotate(await adminToken());
    assert.equal(res.statusCode, 201);
    const { kid } = res.json();
    assert.ok(!before.json().keys.some((k: { kid: string }) => k.kid === kid));

    // A token signed by the new key on this instance is accepted by the replica (unknown kid reloads keys).
    const customer = await identity.customer('cross-replica');
    assert.equal(decodeProtectedHeader(customer.accessToken).kid, kid);
    const meOnReplica = await replica.app.inject({ url: '/api/identity/me', headers: bearer(customer.accessToken) });
    assert.equal(meOnReplica.statusCode, 200);
  });

  it('drops a key from the JWKS once it is retired, and its tokens stop verifying', async () => {
    const customer = await identity.customer('retired');
    const oldKid = decodeProtectedHeader(customer.accessToken).kid;
    assert.equal((await rotate(await adminToken())).statusCode, 201);
    await identity.db.query(`UPDATE signing_keys SET retired_at = now() - interval '1 second' WHERE kid = $1`, [oldKid]);

    // A fresh instance (no cached keys) sees the table as it is.
    const replica = await identity.replica();
    const keys = (await replica.app.inject({ url: JWKS_PATH })).json().keys as Array<{ kid: string }>;
    assert.ok(!keys.some((k) => k.kid === oldKid));
    const res = await replica.app.inject({ url: '/api/identity/me', headers: bearer(customer.accessToken) });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().detail, /unknown key/);
  });

  it('keeps exactly one active key when rotations and first starts race', async () => {
    const token = await adminToken();
    const replica = await identity.replica();
    const results = await Promise.all([rotate(token), rotate(token), replica.app.inject({ method: 'POST', url: '/api/identity/keys/rotate', headers: bearer(token) })]);
    assert.deepEqual(
      results.map((r) => r.statusCode),
      [201, 201, 201],
    );
    const { rows } = await identity.db.query<{ n: number }>('SELECT count(*)::int AS n FROM signing_keys WHERE retired_at IS NULL');
    assert.equal(rows[0]!.n, 1);
  });
});

describe('access tokens identity refuses', () => {
  it('accepts a correctly minted token (the forgeries below differ in one thing only)', async () => {
    const user = await identity.customer('control');
    assert.equal((await me(await mint(user.id))).statusCode, 200);
  });

  it('refuses alg "none"', async () => {
    const user = await identity.customer('none');
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user.id, iss: 'bazaar-identity', aud: 'bazaar', iat: now, exp: now + 300, roles: ['admin'] })}.`;
    const res = await me(token);
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'UNAUTHENTICATED');
  });

  it('refuses a forged signature', async () => {
    const user = await identity.customer('forged');
    const { privateKey } = await generateKeyPair('EdDSA');
    assert.equal((await me(await mint(user.id, { key: privateKey }))).statusCode, 401);

    // A valid token with its payload swapped for one granting admin.
    const genuine = await mint(user.id);
    const [header, , signature] = genuine.split('.');
    const now = Math.floor(Date.now() / 1000);
    const tampered = `${header}.${b64({ sub: user.id, email: 'x@example.com', roles: ['admin'], iss: 'bazaar-identity', aud: 'bazaar', iat: now, exp: now + 300 })}.${signature}`;
    assert.equal((await rotate(tampered)).statusCode, 401);
  });

  it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const user = await identity.customer('hs256');
    const jwk = (await jwks()).keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
      .setSubject(user.id)
      .setIssuer('bazaar-identity')
      .setAudience('bazaar')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    assert.equal((await me(token)).statusCode, 401);
  });

  it('refuses the wrong audience or issuer', async () => {
    const user = await identity.customer('aud');
    const wrongAudience = await me(await mint(user.id, { aud: 'some-other-api' }));
    assert.equal(wrongAudience.statusCode, 401);
    assert.match(wrongAudience.json().detail, /"aud"/);
    assert.equal((await me(await mint(user.id, { iss: 'evil-identity' }))).statusCode, 401);
  });

  it('refuses an expired token', async () => {
    const user = await identity.customer('expired');
    const now = Math.floor(Date.now() / 1000);
    const res = await me(await mint(user.id, { iat: now - 1000, exp: now - 60 }));
    assert.equal(res.statusCode, 401);
    assert.match(res.json().detail, /expired/);
  });
});
