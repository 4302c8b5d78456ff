import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRefresh, hashRefreshToken, newRefreshToken } from './refresh-tokens.ts';

const now = new Date('2030-01-01T12:00:00Z');
const later = new Date('2030-01-02T12:00:00Z');
const earlier = new Date('2029-12-31T12:00:00Z');

describe('refresh tokens', () => {
  it('are 32 random bytes in base64url, never repeating', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => newRefreshToken()));
    assert.equal(tokens.size, 1000);
    for (const token of tokens) {
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(token, 'base64url').length, 32);
    }
  });

  it('are stored as their SHA-256 hash', () => {
    const token = newRefreshToken();
    const hash = hashRefreshToken(token);
    assert.equal(hash.length, 32);
    assert.deepEqual(hash, hashRefreshToken(token));
    assert.notDeepEqual(hash, hashRefreshToken(newRefreshToken()));
    assert.ok(!hash.toString('base64url').includes(token));
  });

  it('rotate when unused, unrevoked and unexpired', () => {
    assert.deepEqual(decideRefresh({ expiresAt: later, usedAt: null, revokedAt: null }, now), { action: 'rotate' });
  });

  it('revoke the family when a used token comes back, even an expired one', () => {
    assert.deepEqual(decideRefresh({ expiresAt: later, usedAt: earlier, revokedAt: null }, now), { action: 'revoke-family' });
    assert.deepEqual(decideRefresh({ expiresAt: earlier, usedAt: earlier, revokedAt: null }, now), { action: 'revoke-family' });
  });

  it('reject unknown, revoked and expired tokens without further action', () => {
    assert.deepEqual(decideRefresh(undefined, now), { action: 'reject', reason: 'unknown' });
    assert.deepEqual(decideRefresh({ expiresAt: later, usedAt: null, revokedAt: earlier }, now), { action: 'reject', reason: 'revoked' });
    assert.deepEqual(decideRefresh({ expiresAt: later, usedAt: earlier, revokedAt: earlier }, now), { action: 'reject', reason: 'revoked' });
    assert.deepEqual(decideRefresh({ expiresAt: earlier, usedAt: null, revokedAt: null }, now), { action: 'reject', reason: 'expired' });
    assert.deepEqual(decideRefresh({ expiresAt: now, usedAt: null, revokedAt: null }, now), { action: 'reject', reason: 'expired' });
  });
});
