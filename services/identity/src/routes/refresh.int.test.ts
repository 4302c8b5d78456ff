import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { hashRefreshToken } from '../domain/refresh-tokens.ts';
import { pruneExpiredRefreshTokens } from '../persistence/refresh-tokens.ts';
import { bearer, startIdentity, type IdentityUnderTest } from '../testing/harness.ts';

let identity: IdentityUnderTest;
before(async () => {
  identity = await startIdentity();
});
after(() => identity?.close());

const refresh = (refreshToken: unknown) => identity.app.inject({ method: 'POST', url: '/api/identity/refresh', payload: { refreshToken } });
const logout = (refreshToken: unknown) => identity.app.inject({ method: 'POST', url: '/api/identity/logout', payload: { refreshToken } });

async function familyOf(token: string): Promise<Array<{ used: boolean; revoked: boolean }>> {
  const { rows } = await identity.db.query<{ used: boolean; revoked: boolean }>(
    `SELECT used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked FROM refresh_tokens
      WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) ORDER BY created_at`,
    [hashRefreshToken(token)],
  );
  return rows;
}

function assertRefreshRefused(res: { statusCode: number; json(): { code: string } }) {
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().code, 'REFRESH_TOKEN_INVALID');
}

describe('POST /api/identity/refresh', () => {
  it('exchanges a refresh token for a new pair, once', async () => {
    const user = await identity.customer('rotate');
    const res = await refresh(user.refreshToken);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const pair = res.json();
    assert.equal(pair.tokenType, 'Bearer');
    assert.equal(pair.expiresIn, 900);
    assert.notEqual(pair.refreshToken, user.refreshToken);
    assert.equal(decodeJwt(pair.accessToken).sub, user.id);
    const me = await identity.app.inject({ url: '/api/identity/me', headers: bearer(pair.accessToken) });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().email, user.email);

    // The new token continues the same family; the old one is marked used.
    assert.deepEqual(await familyOf(pair.refreshToken), [
      { used: true, revoked: false },
      { used: false, revoked: false },
    ]);
    // And it can be rotated in turn.
    assert.equal((await refresh(pair.refreshToken)).statusCode, 200);
  });

  it('treats reuse of a rotated token as theft: 401 and the whole family is revoked', async () => {
    const user = await identity.customer('reuse');
    const second = (await refresh(user.refreshToken)).json().refreshToken as string;
    const third = (await refresh(second)).json().refreshToken as string;

    assertRefreshRefused(await refresh(user.refreshToken));
    assert.ok((await familyOf(third)).every((token) => token.revoked));
    assertRefreshRefused(await refresh(third));

    // Another login of the same user is a different family and keeps working.
    const other = await identity.login(user.email, user.password);
    assert.equal((await refresh(other.refreshToken)).statusCode, 200);
  });

  it('lets only one of two concurrent refreshes with one token succeed', async () => {
    const user = await identity.customer('concurrent');
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(user.refreshToken)));
    const ok = results.filter((r) => r.statusCode === 200);
    assert.equal(ok.length, 1, `statuses ${results.map((r) => r.statusCode).join(',')}`);
    for (const res of results) if (res.statusCode !== 200) assertRefreshRefused(res);
  });

  it('refuses unknown, malformed and expired tokens with 401', async () => {
    assertRefreshRefused(await refresh('A'.repeat(43)));
    assertRefreshRefused(await refresh('not a token at all'));

    const user = await identity.customer('expired');
    await identity.db.query(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [hashRefreshToken(user.refreshToken)]);
    assertRefreshRefused(await refresh(user.refreshToken));
  });

  it('refuses a body without a token with 400', async () => {
    for (const payload of [{}, { refreshToken: '' }, { refreshToken: ['x', 'y'] }, { refreshToken: 'x', extra: 1 }]) {
      const res = await identity.app.inject({ method: 'POST', url: '/api/identity/refresh', payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
  });

  it('stores refresh tokens only as hashes', async () => {
    const user = await identity.customer('hashed');
    const { rows } = await identity.db.query<{ token_hash: Buffer }>('SELECT token_hash FROM refresh_tokens WHERE user_id = $1', [user.id]);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.token_hash, hashRefreshToken(user.refreshToken));
    const { rows: anywhere } = await identity.db.query(`SELECT 1 FROM refresh_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, [
      user.refreshToken,
    ]);
    assert.equal(anywhere.length, 0);
  });
});

describe('POST /api/identity/logout', () => {
  it('revokes the family of the token, idempotently', async () => {
    const user = await identity.customer('logout');
    const rotated = (await refresh(user.refreshToken)).json().refreshToken as string;

    const res = await logout(rotated);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assertRefreshRefused(await refresh(rotated));
    assert.ok((await familyOf(rotated)).every((token) => token.revoked));

    assert.equal((await logout(rotated)).statusCode, 204);
    assert.equal((await logout(user.refreshToken)).statusCode, 204);
  });

  it('accepts unknown tokens with 204', async () => {
    assert.equal((await logout('B'.repeat(43))).statusCode, 204);
  });

  it('leaves the other sessions of the user alone', async () => {
    const user = await identity.customer('sessions');
    const laptop = await identity.login(user.email, user.password);
    assert.equal((await logout(user.refreshToken)).statusCode, 204);
    assert.equal((await refresh(laptop.refreshToken)).statusCode, 200);
  });
});

describe('expired refresh tokens', () => {
  it('are pruned a grace period after they expired, and only those', async () => {
    const { refreshToken } = await identity.customer('prune');
    const { refreshToken: fresh } = await identity.customer('keep');
    await identity.db.query(`UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE token_hash = $1`, [hashRefreshToken(refreshToken)]);
    const deleted = await pruneExpiredRefreshTokens(identity.db, 86_400);
    assert.equal(deleted, 1);
    assert.equal((await familyOf(refreshToken)).length, 0);
    assert.equal((await familyOf(fresh)).length, 1);
    assertRefreshRefused(await refresh(refreshToken));
  });
});
