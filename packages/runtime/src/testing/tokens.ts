import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ACCESS_TOKEN_ALGORITHM, createAccessTokenVerifier, type Role, type VerifyAccessToken } from '@bazaar/chassis';

export interface TestTokens {
  /** A signed access token as identity would issue it. */
  issue(claims?: { userId?: string; email?: string; roles?: Role[]; audience?: string; issuer?: string; expiresIn?: string | number }): Promise<string>;
  /** A verifier that trusts only this test key, configured like a service's. */
  verifier: VerifyAccessToken;
  jwks: { keys: JWK[] };
}

/**
 * A throwaway signing key for tests of services that only verify tokens: tokens
 * are real EdDSA JWTs, checked by the same verifier code the services run.
 */
export async function testTokens(issuer = 'bazaar-identity', audience = 'bazaar'): Promise<TestTokens> {
  const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, { extractable: true });
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' }] };
  return {
    jwks,
    verifier: createAccessTokenVerifier({ jwks: createLocalJWKSet(jwks), issuer, audience }),
    issue: (claims = {}) =>
      new SignJWT({ email: claims.email ?? 'someone@example.com', roles: claims.roles ?? ['customer'] })
        .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, kid })
        .setSubject(claims.userId ?? randomUUID())
        .setIssuer(claims.issuer ?? issuer)
        .setAudience(claims.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime(claims.expiresIn ?? '5m')
        .sign(privateKey),
  };
}
