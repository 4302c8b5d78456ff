import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createService, loadConfig } from '@bazaar/chassis';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { identityService } from '../app.ts';
import { IdentityConfig } from '../config.ts';
import { startIdentity, strongPassword, type IdentityUnderTest } from '../testing/harness.ts';
import { bootstrapAdmin } from './admin.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'identity-admin-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
});

/** Identity on a fresh database with `env`, before onStart has run. */
async function identityWithout(env: Record<string, string>): Promise<IdentityUnderTest> {
  // No BAZAAR_ADMIN_* from the harness: an empty string counts as unset.
  const identity = await startIdentity({ BAZAAR_ADMIN_EMAIL: '', BAZAAR_ADMIN_PASSWORD: '', ...env }, { onStart: false });
  cleanups.push(() => identity.close());
  return identity;
}

async function admins(identity: IdentityUnderTest) {
  const { rows } = await identity.db.query<{ email: string; roles: string[] }>(`SELECT email, roles FROM users WHERE 'admin' = ANY (roles)`);
  return rows;
}

describe('admin bootstrap', () => {
  it('creates one admin with a generated password, handed over in a 0600 credentials file', async () => {
    const file = join(dir, 'generated.json');
    const identity = await identityWithout({ BAZAAR_ADMIN_CREDENTIALS_FILE: file });
    await identityService.onStart!(identity.context);

    assert.deepEqual(await admins(identity), [{ email: 'admin@bazaar.local', roles: ['admin', 'customer'] }]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const credentials = JSON.parse(await readFile(file, 'utf8'));
    assert.deepEqual(Object.keys(credentials).sort(), ['email', 'password']);
    assert.equal(credentials.email, 'admin@bazaar.local');
    assert.match(credentials.password, /^[A-Za-z0-9_-]{20,}$/);

    const { accessToken } = await identity.login(credentials.email, credentials.password);
    assert.deepEqual(decodeJwt(accessToken)['roles'], ['admin', 'customer']);

    // A restart finds the admin: nothing is created, no new password is handed out.
    await rm(file);
    await identityService.onStart!(identity.context);
    assert.equal((await admins(identity)).length, 1);
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  it('replaces a stale credentials file instead of writing through it', async () => {
    const file = join(dir, 'stale.json');
    await writeFile(file, 'old contents', { mode: 0o644 });
    const identity = await identityWithout({ BAZAAR_ADMIN_CREDENTIALS_FILE: file });
    await identityService.onStart!(identity.context);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).email, 'admin@bazaar.local');
  });

  it('creates exactly one admin when replicas start together', async () => {
    const { db, drop } = await freshDatabase('identity', identityService.migrations);
    const config = loadConfig(IdentityConfig, { SERVICE_NAME: 'identity', PORT: '0', BAZAAR_ADMIN_CREDENTIALS_FILE: join(dir, 'race.json') });
    const replicas = await Promise.all([1, 2, 3].map(() => createService(identityService, config, { db, logger: false })));
    cleanups.push(async () => {
      for (const { app } of replicas) await app.close();
      await drop();
    });
    await Promise.all(replicas.map(({ context }) => identityService.onStart!(context)));
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE 'admin' = ANY (roles)`);
    assert.equal(rows[0]!.n, 1);
    const { rows: keys } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM signing_keys WHERE retired_at IS NULL');
    assert.equal(keys[0]!.n, 1, 'one active signing key');
  });

  it('uses BAZAAR_ADMIN_EMAIL and BAZAAR_ADMIN_PASSWORD when both are set, writing no file', async () => {
    const file = join(dir, 'configured.json');
    const password = strongPassword();
    const identity = await identityWithout({ BAZAAR_ADMIN_EMAIL: ' Ops@Example.com ', BAZAAR_ADMIN_PASSWORD: password, BAZAAR_ADMIN_CREDENTIALS_FILE: file });
    await identityService.onStart!(identity.context);
    assert.deepEqual(await admins(identity), [{ email: 'ops@example.com', roles: ['admin', 'customer'] }]);
    await assert.rejects(stat(file), { code: 'ENOENT' });
    await identity.login('ops@example.com', password);
  });

  it('prints one line with the generated password to stderr when there is no credentials file', async () => {
    const identity = await identityWithout({});
    const lines: string[] = [];
    const result = await bootstrapAdmin(identity.db, { email: 'boss@example.com', notify: (line) => lines.push(line) });
    assert.deepEqual(result, { created: true, email: 'boss@example.com', passwordGenerated: true });
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.endsWith('\n') && lines[0]!.indexOf('\n') === lines[0]!.length - 1, 'a single line');
    const password = /generated password (\S+)/.exec(lines[0]!)?.[1];
    assert.ok(password && password.length >= 20);
    assert.match(lines[0]!, /boss@example\.com/);
    await identity.login('boss@example.com', password);
  });

  it('refuses a weak configured password without repeating it', async () => {
    const identity = await identityWithout({ BAZAAR_ADMIN_PASSWORD: 'Password123!' });
    await assert.rejects(identityService.onStart!(identity.context), (error: Error) => {
      assert.match(error.message, /BAZAAR_ADMIN_PASSWORD/);
      assert.ok(!error.message.includes('Password123!'));
      return true;
    });
    assert.equal((await admins(identity)).length, 0);
  });

  it('never promotes an existing customer who registered the admin email', async () => {
    const identity = await identityWithout({ BAZAAR_ADMIN_EMAIL: 'chief@example.com', BAZAAR_ADMIN_CREDENTIALS_FILE: join(dir, 'taken.json') });
    const res = await identity.app.inject({
      method: 'POST',
      url: '/api/identity/register',
      payload: { email: 'Chief@example.com', password: strongPassword(), name: 'Squatter' },
    });
    assert.equal(res.statusCode, 201);
    await assert.rejects(identityService.onStart!(identity.context), /already registered/);
    assert.equal((await admins(identity)).length, 0);
    await assert.rejects(stat(join(dir, 'taken.json')), { code: 'ENOENT' });
  });
});
