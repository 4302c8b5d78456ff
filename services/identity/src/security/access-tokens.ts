import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from '@bazaar/chassis';
import { SIGNING_ALGORITHM, type SigningKeyStore } from '../persistence/signing-keys.ts';

export interface TokenSubject {
  id: string;
  email: string;
  roles: Role[];
}

export interface AccessTokenIssuerOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Signs access tokens: EdDSA JWTs with `kid`, `sub`, `email`, `roles`, `iss`, `aud`, `iat`, `exp`, `jti`. */
export class AccessTokenIssuer {
  readonly #keys: SigningKeyStore;
  readonly #options: AccessTokenIssuerOptions;

  constructor(keys: SigningKeyStore, options: AccessTokenIssuerOptions) {
    this.#keys = keys;
    this.#options = options;
  }

  get ttlSeconds(): number {
    return this.#options.ttlSeconds;
  }

  async issue(subject: TokenSubject): Promise<string> {
    const { kid, key } = await this.#keys.signingKey();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: subject.email, roles: subject.roles })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: 'JWT' })
      .setSubject(subject.id)
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#options.ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
  }
}
