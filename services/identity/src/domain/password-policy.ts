import { normalizeEmail } from './email.ts';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/**
 * Passwords as they are checked and hashed: Unicode NFKC-normalized (NIST SP 800-63B
 * §5.1.1.2), so the same password typed on two keyboards hashes the same.
 */
export function preparePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Passwords long enough to pass the length rule that attackers still try first. */
const commonPasswords = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789012345',
  '1234567890123456',
  '098765432109',
  '111111111111',
  'abcdefghijkl',
  'abcdef123456',
  'abc123abc123',
  'qwertyuiopas',
  'qwertyuiop123',
  'qwerty123456',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'asdfghjkl123',
  'passwordpassword',
  'iloveyouiloveyou',
  'correcthorsebatterystaple',
  'trustno1trustno1',
]);

/** Words that, padded with digits or symbols ("Password123!"), make the most guessed passwords. */
const commonWords = new Set([
  'password',
  'passwort',
  'passw0rd',
  'p@ssword',
  'p@ssw0rd',
  'qwerty',
  'qwertyuiop',
  'asdfgh',
  'letmein',
  'welcome',
  'admin',
  'administrator',
  'iloveyou',
  'monkey',
  'dragon',
  'football',
  'baseball',
  'sunshine',
  'princess',
  'superman',
  'batman',
  'starwars',
  'master',
  'shadow',
  'changeme',
  'secret',
  'bazaar',
]);

/**
 * Why `password` is not acceptable for the account `email`, or `undefined` if it is.
 * The reason is meant for the user; it never repeats the password.
 */
export function passwordPolicyViolation(password: string, email: string): string | undefined {
  const prepared = preparePassword(password);
  const length = [...prepared].length;
  if (length < PASSWORD_MIN_LENGTH) return `The password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (length > PASSWORD_MAX_LENGTH) return `The password must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  if (new Set(prepared).size === 1) return 'The password must not repeat a single character';

  const lower = prepared.toLowerCase();
  const normalizedEmail = normalizeEmail(email);
  const localPart = normalizedEmail.split('@')[0] ?? '';
  if (lower.trim() === normalizedEmail || (localPart.length > 0 && lower.trim() === localPart)) {
    return 'The password must not be your email address';
  }
  if (commonPasswords.has(lower)) return 'The password is too common; choose one that is harder to guess';
  const core = lower.replace(/^[^a-z@]+|[^a-z@]+$/g, '');
  if (commonWords.has(core)) return 'The password is a common word with digits or symbols added; choose one that is harder to guess';
  return undefined;
}
