import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterFailure, MAX_BACKOFF_MS } from './retry-policy.ts';
import { messageIdOf, senderDomain } from './smtp-transport.ts';

describe('retrying a failing email', () => {
  const policy = { maxAttempts: 5, baseMs: 1_000 };

  it('waits longer after each failure, between half and all of the doubled base', () => {
    for (const [attempts, ceiling] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 8_000],
    ] as const) {
      assert.deepEqual(afterFailure(attempts, policy, () => 0), { giveUp: false, retryInMs: ceiling / 2 });
      assert.deepEqual(afterFailure(attempts, policy, () => 0.999_999), { giveUp: false, retryInMs: ceiling });
    }
  });

  it('never waits more than the cap', () => {
    const next = afterFailure(40, { maxAttempts: 100, baseMs: 60_000 }, () => 0.999_999);
    assert.deepEqual(next, { giveUp: false, retryInMs: MAX_BACKOFF_MS });
  });

  it('gives up once the email has had its last attempt', () => {
    assert.deepEqual(afterFailure(5, policy), { giveUp: true });
    assert.deepEqual(afterFailure(6, policy), { giveUp: true });
    assert.deepEqual(afterFailure(1, { maxAttempts: 1, baseMs: 1 }), { giveUp: true });
  });
});

describe('Message-IDs', () => {
  it('are the notification id at the domain of the sender', () => {
    assert.equal(senderDomain('Bazaar <no-reply@bazaar.local>'), 'bazaar.local');
    assert.equal(senderDomain('shop@mail.example.com'), 'mail.example.com');
    assert.equal(senderDomain('no address at all'), 'bazaar.local');
    assert.equal(messageIdOf('5b0c9a3e-7a55-4b7e-9d0f-1c2b3a4d5e6f', 'bazaar.local'), '<5b0c9a3e-7a55-4b7e-9d0f-1c2b3a4d5e6f@bazaar.local>');
  });
});
