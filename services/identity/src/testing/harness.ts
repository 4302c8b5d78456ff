import { randomBytes } from 'node:crypto';
import { createService, loadConfig, type Database, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { identityService } from '../app.ts';
import { IdentityConfig, type IdentitySettings } from '../config.ts';

/** A password that satisfies the policy and is unique per call. */
export function strongPassword(): string {
  return `Tq9-${randomBytes(12).toString('base64url')}`;
}

/** An email nobody has registered yet. */
export function uniqueEmail(label = 'user'): string {
  return `${label.toLowerCase()}.${randomBytes(4).toString('hex')}@example.com`;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface IdentityUnderTest {
  app: ServiceApp;
  db: Database;
  config: IdentitySettings;
  context: ServiceContext<IdentitySettings>;
  admin: { email: string; password: string };
  /** Registers a customer and logs them in. */
  customer(label?: string): Promise<{ id: string; email: string; password: string; accessToken: string; refreshToken: string }>;
  login(email: string, password: string, remoteAddress?: string): Promise<{ accessToken: string; refreshToken: string }>;
  /** Another service instance over the same database (a second replica). */
  replica(env?: Record<string, string>): Promise<{ app: ServiceApp; context: ServiceContext<IdentitySettings> }>;
  close(): Promise<void>;
}

function configFor(env: Record<string, string>): IdentitySettings {
  return loadConfig(IdentityConfig, { SERVICE_NAME: 'identity', PORT: '0', LOG_LEVEL: 'silent', ...env });
}

/**
 * Identity on a fresh, migrated database, built the way `runService` builds it
 * (createService, then onStart), with a known admin account. Call `close()` from a
 * top-level `after`.
 */
export async function startIdentity(env: Record<string, string> = {}, options: { onStart?: boolean } = {}): Promise<IdentityUnderTest> {
  const { db, drop } = await freshDatabase('identity', identityService.migrations);
  const admin = { email: 'root@bazaar.test', password: strongPassword() };
  const config = configFor({ BAZAAR_ADMIN_EMAIL: admin.email, BAZAAR_ADMIN_PASSWORD: admin.password, ...env });
  const { app, context } = await createService(identityService, config, { db, logger: false });
  if (options.onStart !== false) await identityService.onStart!(context);
  const apps: ServiceApp[] = [app];

  const login = async (email: string, password: string, remoteAddress = '192.0.2.1') => {
    const res = await app.inject({ method: 'POST', url: '/api/identity/login', remoteAddress, payload: { email, password } });
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
    return res.json() as { accessToken: string; refreshToken: string };
  };

  return {
    app,
    db,
    config,
    context,
    admin,
    login,
    async customer(label = 'customer') {
      const email = uniqueEmail(label);
      const password = strongPassword();
      const res = await app.inject({ method: 'POST', url: '/api/identity/register', payload: { email, password, name: label } });
      if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
      return { id: res.json().id as string, email, password, ...(await login(email, password)) };
    },
    async replica(extra = {}) {
      const replica = await createService(identityService, configFor({ ...env, ...extra }), { db, logger: false });
      apps.push(replica.app);
      return replica;
    },
    async close() {
      for (const instance of apps) await instance.close();
      await drop();
    },
  };
}
