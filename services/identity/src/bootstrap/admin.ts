import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { ConfigError, type Database } from '@bazaar/chassis';
import { parseEmail } from '../domain/email.ts';
import { passwordPolicyViolation } from '../domain/password-policy.ts';
import { hashPassword } from '../security/passwords.ts';
import { adminExists, emailRegistered, insertUser } from '../persistence/users.ts';

export const DEFAULT_ADMIN_EMAIL = 'admin@bazaar.local';
/** Serializes the bootstrap across replicas starting together. */
const ADMIN_BOOTSTRAP_LOCK = 7_241_102;

export interface AdminBootstrapOptions {
  email?: string | undefined;
  password?: string | undefined;
  credentialsFile?: string | undefined;
  /** Where the one-line notice of a generated password goes when there is no credentials file. */
  notify?: (line: string) => void;
}

export type AdminBootstrapResult = { created: false } | { created: true; email: string; passwordGenerated: boolean };

/**
 * Makes sure an admin account exists. With none: creates one with the configured
 * email (default admin@bazaar.local) and password, or with a generated password that
 * is handed over exactly once, in the credentials file (mode 0600) when one is
 * configured, else as one line on stderr. Neither goes through the logger.
 */
export async function bootstrapAdmin(db: Database, options: AdminBootstrapOptions): Promise<AdminBootstrapResult> {
  if (await adminExists(db)) return { created: false };

  const parsed = parseEmail(options.email ?? DEFAULT_ADMIN_EMAIL);
  if (!parsed.ok) throw new ConfigError([`BAZAAR_ADMIN_EMAIL ${parsed.reason}`]);
  const email = parsed.email;
  const passwordGenerated = options.password === undefined;
  const password = options.password ?? randomBytes(24).toString('base64url');
  const weakness = passwordPolicyViolation(password, email);
  if (weakness) throw new ConfigError([`BAZAAR_ADMIN_PASSWORD is not acceptable: ${weakness}`]);
  const passwordHash = await hashPassword(password);

  const created = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [ADMIN_BOOTSTRAP_LOCK]);
    if (await adminExists(tx)) return false;
    if (await emailRegistered(tx, email)) {
      // Never promote an existing account: whoever registered it would become admin.
      throw new ConfigError([`BAZAAR_ADMIN_EMAIL: cannot create the admin account, ${email} is already registered as a customer; choose another address`]);
    }
    await insertUser(tx, { id: randomUUID(), email, name: 'Administrator', passwordHash, roles: ['admin', 'customer'] });
    // Hand the generated password over before committing: if that fails, no admin exists whose password nobody knows.
    if (passwordGenerated && options.credentialsFile) await writeCredentialsFile(options.credentialsFile, email, password);
    return true;
  });
  if (!created) return { created: false };

  if (passwordGenerated && !options.credentialsFile) {
    const notify = options.notify ?? ((line: string) => void process.stderr.write(line));
    notify(`identity: created admin account ${email} with generated password ${password} (shown once; store it now)\n`);
  }
  return { created: true, email, passwordGenerated };
}

/** Writes `{email, password}` readable by the owner only; an existing file is replaced, never followed. */
async function writeCredentialsFile(path: string, email: string, password: string): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, `${JSON.stringify({ email, password })}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
}
