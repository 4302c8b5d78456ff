import { randomBytes } from 'node:crypto';
import { argon2id, hash, verify } from 'argon2';
import { preparePassword } from '../domain/password-policy.ts';

/** OWASP Password Storage Cheat Sheet, argon2id option 5: 19 MiB, 2 iterations, 1 lane. */
export const ARGON2_PARAMETERS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * Hashes `password` with argon2id into a PHC string in the reference (libargon2)
 * layout `$argon2id$v=19$m=…,t=…,p=…$salt$hash`. The `argon2` package itself emits
 * the parameters as `m,p,t`, which the reference decoder (and the libraries built on
 * it) reject; keeping the canonical form keeps the stored hashes portable.
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const digest = await hash(preparePassword(password), { ...ARGON2_PARAMETERS, type: argon2id, hashLength: HASH_BYTES, salt, raw: true });
  const { memoryCost: m, timeCost: t, parallelism: p } = ARGON2_PARAMETERS;
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${phcBase64(salt)}$${phcBase64(digest)}`;
}

/** True when `password` matches `encoded`. A malformed hash is a mismatch, never an exception. */
export async function verifyPassword(encoded: string, password: string): Promise<boolean> {
  try {
    return await verify(encoded, preparePassword(password));
  } catch {
    return false;
  }
}

/**
 * A hash of a random secret nobody knows, computed once at start. Logins for unknown
 * emails verify against it, so they cost the same time as a wrong password and do
 * not tell an attacker which emails have accounts.
 */
export function createDummyHash(): Promise<string> {
  return hashPassword(randomBytes(32).toString('base64url'));
}

/** PHC strings use standard base64 without padding. */
function phcBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
