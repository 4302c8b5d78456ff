import { createAccessTokenVerifier, type ServiceContext, type ServiceModule } from '@bazaar/chassis';
import { bootstrapAdmin } from './bootstrap/admin.ts';
import { IdentityConfig, type IdentitySettings } from './config.ts';
import { pruneExpiredRefreshTokens } from './persistence/refresh-tokens.ts';
import { SigningKeyStore } from './persistence/signing-keys.ts';
import { identityRoutes } from './routes/identity-routes.ts';
import { AccessTokenIssuer } from './security/access-tokens.ts';
import { LoginThrottle, pruneLoginAttempts } from './security/login-throttle.ts';
import { createDummyHash } from './security/passwords.ts';

/**
 * How long after a rotation the previous key stays published, beyond the access-token
 * lifetime: covers replicas that still sign with it until they reload their keys
 * (30 s), clock tolerance (5 s) and JWKS caching by verifiers.
 */
const KEY_RETIREMENT_MARGIN_SECONDS = 120;

/**
 * Hourly housekeeping: expired refresh tokens are deleted a day after they expired,
 * login-attempt counters an hour after their window ended.
 */
const PRUNE_INTERVAL_MS = 3_600_000;
const PRUNE_GRACE_SECONDS = 86_400;

function prune({ db, log }: ServiceContext<IdentitySettings>): Promise<unknown> {
  const logged = (what: string, deleting: Promise<number>) =>
    deleting.then(
      (deleted) => deleted > 0 && log.info({ deleted }, `${what} pruned`),
      (error: unknown) => log.warn({ err: error }, `pruning ${what} failed`),
    );
  return Promise.all([
    logged('expired refresh tokens', pruneExpiredRefreshTokens(db!, PRUNE_GRACE_SECONDS)),
    logged('expired login-attempt counters', pruneLoginAttempts(db!)),
  ]);
}

interface IdentityRuntime {
  keys: SigningKeyStore;
  accessTokens: AccessTokenIssuer;
  throttle: LoginThrottle;
}

/** One runtime per service instance (tests build several in one process). */
const runtimes = new WeakMap<ServiceContext<IdentitySettings>, IdentityRuntime>();

function runtimeOf(context: ServiceContext<IdentitySettings>): IdentityRuntime {
  let runtime = runtimes.get(context);
  if (!runtime) {
    const { config, db } = context;
    if (!db) throw new Error('identity needs its database (DATABASE_URL)');
    const keys = new SigningKeyStore(db, { retireAfterSeconds: config.ACCESS_TOKEN_TTL_SECONDS + KEY_RETIREMENT_MARGIN_SECONDS });
    runtime = {
      keys,
      accessTokens: new AccessTokenIssuer(keys, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS }),
      throttle: new LoginThrottle({
        accountMaxFailures: config.LOGIN_ACCOUNT_MAX_FAILURES,
        accountWindowSeconds: config.LOGIN_ACCOUNT_WINDOW_SECONDS,
        ipMaxFailures: config.LOGIN_IP_MAX_FAILURES,
        ipWindowSeconds: config.LOGIN_IP_WINDOW_SECONDS,
        database: db,
        redisUrl: config.REDIS_URL,
        keyPrefix: config.LOGIN_THROTTLE_REDIS_PREFIX,
        log: context.log,
      }),
    };
    runtimes.set(context, runtime);
  }
  return runtime;
}

export const identityService: ServiceModule<typeof IdentityConfig> = {
  name: 'identity',
  title: 'Bazaar identity',
  description: 'Accounts, credentials and addresses; issues access tokens (EdDSA JWTs) and refresh tokens, and publishes the JWKS that verifies them.',
  configSchema: IdentityConfig,
  migrations: new URL('../migrations/', import.meta.url),
  // Identity verifies its own tokens against its key table, never over HTTP to itself.
  accessTokens: (context) =>
    createAccessTokenVerifier({ jwks: runtimeOf(context).keys.verificationKey, issuer: context.config.JWT_ISSUER, audience: context.config.JWT_AUDIENCE }),
  async routes(app, context) {
    const runtime = runtimeOf(context);
    await identityRoutes(app, { db: context.db!, config: context.config, outbox: context.outbox, ...runtime, dummyHash: await createDummyHash() });
    const pruning = setInterval(() => void prune(context), PRUNE_INTERVAL_MS).unref();
    app.addHook('onClose', async () => {
      clearInterval(pruning);
      await runtime.throttle.close();
    });
  },
  async onStart(context) {
    const { config, db, log } = context;
    await runtimeOf(context).keys.ensureActiveKey();
    // A replica that just started must not count logins alone while a reachable Redis is still connecting.
    await runtimeOf(context).throttle.connected();
    const admin = await bootstrapAdmin(db!, {
      email: config.BAZAAR_ADMIN_EMAIL,
      password: config.BAZAAR_ADMIN_PASSWORD,
      credentialsFile: config.BAZAAR_ADMIN_CREDENTIALS_FILE,
    });
    if (admin.created) {
      log.info({ email: admin.email, passwordGenerated: admin.passwordGenerated, credentialsFile: config.BAZAAR_ADMIN_CREDENTIALS_FILE }, 'admin account created');
    }
    await prune(context);
  },
};
