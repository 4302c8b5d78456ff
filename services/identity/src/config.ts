import { Type, extendConfig, type Static } from '@bazaar/chassis';

export const IdentityConfig = extendConfig({
  /** Email of the admin account created at first start when no admin exists (default admin@bazaar.local). */
  BAZAAR_ADMIN_EMAIL: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })),
  /** Password of that admin; when unset a random one is generated and handed over once. */
  BAZAAR_ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  /** Where a generated admin password is written (JSON, mode 0600) instead of stderr; the launcher reads and deletes it. */
  BAZAAR_ADMIN_CREDENTIALS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Lifetime of access tokens (JWTs), in seconds. */
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 86_400, default: 900 }),
  /** Lifetime of a refresh token, in seconds; each refresh issues a new one with a fresh lifetime. */
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 2_592_000 }),
  /** Failed logins allowed per account (normalized email) within LOGIN_ACCOUNT_WINDOW_SECONDS. */
  LOGIN_ACCOUNT_MAX_FAILURES: Type.Integer({ minimum: 1, default: 5 }),
  LOGIN_ACCOUNT_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 900 }),
  /** Failed logins allowed per client IP within LOGIN_IP_WINDOW_SECONDS. */
  LOGIN_IP_MAX_FAILURES: Type.Integer({ minimum: 1, default: 20 }),
  LOGIN_IP_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 60 }),
  /** Redis for the login limits (as the gateway's rate limits); without it the replicas share them through identity's own database. */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  /** Prefix of the login-limit keys (in Redis or the database): replicas of one system share it; another system on the same Redis uses its own. */
  LOGIN_THROTTLE_REDIS_PREFIX: Type.String({ minLength: 1, default: 'bazaar:login' }),
});

/** The identity service's resolved configuration (base variables included). */
export type IdentitySettings = Static<typeof IdentityConfig>;
