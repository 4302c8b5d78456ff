import type { Database, Outbox } from '@bazaar/chassis';
import type { IdentitySettings } from '../config.ts';
import type { SigningKeyStore } from '../persistence/signing-keys.ts';
import type { AccessTokenIssuer } from '../security/access-tokens.ts';
import type { LoginThrottle } from '../security/login-throttle.ts';

/** What identity's routes share: built once per service instance. */
export interface IdentityDeps {
  db: Database;
  /** Where `identity.user-registered.v1` is written, in the registering transaction. */
  outbox: Outbox;
  config: IdentitySettings;
  keys: SigningKeyStore;
  accessTokens: AccessTokenIssuer;
  throttle: LoginThrottle;
  /** Hash of an unknown secret: unknown emails are verified against it (same timing as a wrong password). */
  dummyHash: string;
}
