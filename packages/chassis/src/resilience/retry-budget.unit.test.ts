import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  it('allows the floor when there is no traffic, then refuses', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000, now: () => 0 });
    let granted = 0;
    while (budget.tryRetry()) granted++;
    assert.equal(granted, 10); // 1 per second over 10 s
  });

  it('in an outage, retries add at most the ratio of calls on top of the floor', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, now: () => now });
    let calls = 0;
    let retries = 0;
    // 1000 calls over 5 s, each failing and asking for 2 retries.
    for (let i = 0; i < 1000; i++) {
      now = i * 5;
      budget.recordCall();
      calls++;
      for (let r = 0; r < 2; r++) if (budget.tryRetry()) retries++;
    }
    assert.ok(retries <= 0.2 * calls, `${retries} retries for ${calls} calls`);
    assert.ok(retries >= 0.19 * calls, `the budget is used, not starved: ${retries}`);
  });

  it('forgets calls and retries older than the window', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1_000, slots: 10, now: () => now });
    for (let i = 0; i < 10; i++) budget.recordCall();
    let granted = 0;
    while (budget.tryRetry()) granted++;
    assert.equal(granted, 5);
    now = 1_500; // the calls fell out of the window
    assert.equal(budget.tryRetry(), false);
    assert.equal(budget.remaining(), 0);
    budget.recordCall();
    budget.recordCall();
    assert.equal(budget.tryRetry(), true);
  });
});
