import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@bazaar/chassis';
import { LoginThrottle } from './login-throttle.ts';

const options = { accountMaxFailures: 3, accountWindowSeconds: 900, ipMaxFailures: 5, ipWindowSeconds: 60 };

async function throttled(attempt: Promise<void>): Promise<AppError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof AppError, 'expected the attempt to be refused');
  assert.equal(error.code, 'LOGIN_THROTTLED');
  return error;
}

describe('login throttle', () => {
  it('refuses an account after its failures, with Retry-After in seconds', async () => {
    const throttle = new LoginThrottle(options);
    for (let i = 0; i < 3; i++) await throttle.attempt('a@example.com', `10.0.0.${i}`);
    const error = await throttled(throttle.attempt('a@example.com', '10.0.0.9'));
    const retryAfter = Number(error.headers['retry-after']);
    assert.ok(retryAfter > 800 && retryAfter <= 900, `Retry-After ${retryAfter}`);
    await throttle.attempt('b@example.com', '10.0.0.9');
  });

  it('refuses an address after its failures, whatever the account', async () => {
    const throttle = new LoginThrottle(options);
    for (let i = 0; i < 5; i++) await throttle.attempt(`user${i}@example.com`, '10.0.0.1');
    const error = await throttled(throttle.attempt('fresh@example.com', '10.0.0.1'));
    assert.match(error.detail!, /from this address/);
    assert.ok(Number(error.headers['retry-after']) <= 60);
    await throttle.attempt('fresh@example.com', '10.0.0.2');
  });

  it('counts parallel attempts too', async () => {
    const throttle = new LoginThrottle(options);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => throttle.attempt('c@example.com', '10.0.0.3')));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
  });

  it('starts an account afresh after a successful login', async () => {
    const throttle = new LoginThrottle(options);
    for (let i = 0; i < 2; i++) await throttle.attempt('d@example.com', '10.0.0.4');
    await throttle.attempt('d@example.com', '10.0.0.4');
    await throttle.succeeded('d@example.com', '10.0.0.4');
    for (let i = 0; i < 3; i++) await throttle.attempt('d@example.com', '10.0.0.5');
    await throttled(throttle.attempt('d@example.com', '10.0.0.5'));
  });
});
