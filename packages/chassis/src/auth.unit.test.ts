import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { ACCESS_TOKEN_ALGORITHM, createAccessTokenVerifier } from './auth.ts';
import { AppError } from './problem.ts';

const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM);
const issue = (subject: string, audience = 'bazaar') =>
  new SignJWT({ email: `${subject}@example.com`, roles: ['customer'] })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM })
    .setSubject(subject)
    .setIssuer('bazaar-identity')
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
const verifier = (cacheTtlMs?: number) =>
  createAccessTokenVerifier({ jwks: async () => publicKey, issuer: 'bazaar-identity', audience: 'bazaar', ...(cacheTtlMs === undefined ? {} : { cacheTtlMs }) });

describe('access token verifier', () => {
  it('remembers a verified token, and only that exact token', async () => {
    const verify = verifier();
    const token = await issue('u-1');
    assert.equal(verify.remembered?.(token), undefined, 'nothing is known before the first verification');
    const principal = await verify(token);
    assert.equal(principal.userId, 'u-1');
    assert.deepEqual(verify.remembered?.(token), principal);
    assert.equal(verify.remembered?.(`${token} `), undefined);
    assert.equal(verify.remembered?.(token.slice(0, -1)), undefined);
  });

  it('never remembers a token that failed verification', async () => {
    const verify = verifier();
    const wrongAudience = await issue('u-2', 'someone-else');
    await assert.rejects(verify(wrongAudience), (error: unknown) => error instanceof AppError && error.code === 'UNAUTHENTICATED');
    assert.equal(verify.remembered?.(wrongAudience), undefined);
  });

  it('forgets a token once its time in the cache is over', async () => {
    const verify = verifier(20);
    const token = await issue('u-3');
    await verify(token);
    assert.ok(verify.remembered?.(token));
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(verify.remembered?.(token), undefined);
    assert.equal((await verify(token)).userId, 'u-3', 'verified again from scratch');
  });
});
