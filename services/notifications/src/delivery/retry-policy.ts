/** The longest pause between two attempts of a failing email. */
export const MAX_BACKOFF_MS = 15 * 60_000;

/**
 * What to do after attempt `attempts` of an email failed: give up once it has had
 * `maxAttempts`, else try again after an exponential backoff with jitter
 * (`baseMs`, 2×, 4×… capped at 15 minutes, each between half and all of it) so
 * that emails failing together do not all come back at the same instant.
 */
export function afterFailure(attempts: number, policy: { maxAttempts: number; baseMs: number }, random: () => number = Math.random): { giveUp: true } | { giveUp: false; retryInMs: number } {
  if (attempts >= policy.maxAttempts) return { giveUp: true };
  const ceiling = Math.min(MAX_BACKOFF_MS, policy.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return { giveUp: false, retryInMs: Math.round(ceiling * (0.5 + random() / 2)) };
}
