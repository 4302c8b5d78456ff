import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it returns something other than `undefined`, and returns
 * that; fails naming `what` (or what `what()` says then) once `timeoutMs` has passed. For tests that wait on
 * asynchronous effects (a message handled, a row written) instead of sleeping.
 */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string | (() => string), timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(intervalMs);
  }
}
