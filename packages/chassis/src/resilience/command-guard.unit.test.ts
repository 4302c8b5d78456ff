import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError } from '../config.ts';
import { AppError } from '../problem.ts';
import { CommandGuards } from './command-guard.ts';

/** Outcomes go through cockatiel's breaker asynchronously: let them settle. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function refusal(run: () => void): AppError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    return error;
  }
  assert.fail('expected a refusal');
}

describe('command guards (policies of commands sent over the broker)', () => {
  const breaker = { minimumCalls: 3, windowCalls: 4, failureRatio: 0.5, halfOpenAfterMs: 60 };

  it('open a participant’s breaker after its deadlines pass, refuse new work needing it with 503 and Retry-After, and let other participants through', async () => {
    const metrics = new Registry();
    const guards = new CommandGuards({ sender: 'orders', participants: ['payments', 'shipping'], inFlight: () => 0, overrides: { payments: { breaker } }, metrics });
    guards.admit(['payments', 'shipping']);
    for (let i = 0; i < 3; i++) guards.timedOut('payments');
    await settle();
    const refused = refusal(() => guards.admit(['shipping', 'payments']));
    assert.equal(refused.code, 'UPSTREAM_CIRCUIT_OPEN');
    assert.equal(refused.headers['retry-after'], '1');
    guards.admit(['shipping']);
    const text = await metrics.metrics();
    assert.match(text, /saga_command_circuit_state\{participant="payments"\} 2/);
    assert.match(text, /saga_command_circuit_state\{participant="shipping"\} 0/);
    assert.match(text, /saga_command_outcomes_total\{participant="payments",outcome="timed_out"\} 3/);
    assert.match(text, /saga_command_outcomes_total\{participant="payments",outcome="refused_circuit_open"\} 1/);
  });

  it('stay closed while most commands are answered', async () => {
    const guards = new CommandGuards({ sender: 'orders', participants: ['payments'], inFlight: () => 0, overrides: { payments: { breaker } } });
    for (let i = 0; i < 20; i++) {
      guards.replied('payments');
      if (i % 3 === 0) guards.timedOut('payments');
    }
    await settle();
    guards.admit(['payments']);
  });

  it('let work through once the trial is due: a reply closes the breaker, another missed deadline opens it again', async () => {
    const guards = new CommandGuards({ sender: 'orders', participants: ['payments'], inFlight: () => 0, overrides: { payments: { breaker } } });
    for (let i = 0; i < 3; i++) guards.timedOut('payments');
    await settle();
    assert.equal(refusal(() => guards.admit(['payments'])).code, 'UPSTREAM_CIRCUIT_OPEN');
    await sleep(80);
    guards.admit(['payments']); // the trial
    guards.timedOut('payments');
    await settle();
    assert.equal(guards.get('payments').state(), 'open');
    assert.equal(refusal(() => guards.admit(['payments'])).code, 'UPSTREAM_CIRCUIT_OPEN');
    await sleep(80);
    guards.admit(['payments']);
    guards.replied('payments');
    await settle();
    assert.equal(guards.get('payments').state(), 'closed');
    guards.admit(['payments']);
  });

  it('refuse new work with 503 UPSTREAM_SATURATED while the participant’s commands in flight reach its bulkhead', () => {
    let inFlight = 9;
    const guards = new CommandGuards({ sender: 'orders', participants: ['catalog'], inFlight: () => inFlight, overrides: { catalog: { bulkhead: { maxInFlight: 10 } } } });
    guards.admit(['catalog']);
    inFlight = 10;
    const refused = refusal(() => guards.admit(['catalog']));
    assert.equal(refused.code, 'UPSTREAM_SATURATED');
    assert.equal(refused.headers['retry-after'], '1');
  });

  it('hold resends to the retry budget: a share of the commands sent plus a floor', () => {
    const guards = new CommandGuards({ sender: 'orders', participants: ['payments'], inFlight: () => 0, overrides: { payments: { retryBudget: { ratio: 0.5, minPerSecond: 0.1 } } } });
    // The floor: 0.1/s over the 10 s window is one resend.
    assert.equal(guards.tryResend('payments'), true);
    assert.equal(guards.tryResend('payments'), false);
    for (let i = 0; i < 4; i++) guards.sent('payments');
    assert.equal(guards.tryResend('payments'), true);
    assert.equal(guards.tryResend('payments'), true);
    assert.equal(guards.tryResend('payments'), false);
  });

  it('take overrides from COMMAND_POLICY_OVERRIDES, and stop at a field that is not a policy’s', () => {
    const guards = new CommandGuards({ sender: 'orders', participants: ['catalog'], inFlight: () => 0, overrides: '{"catalog": {"bulkhead": {"maxInFlight": 3}}}' });
    assert.equal(guards.get('catalog').policy.bulkhead.maxInFlight, 3);
    assert.equal(guards.get('catalog').policy.breaker.minimumCalls, 5);
    assert.throws(
      () => new CommandGuards({ sender: 'orders', participants: ['catalog'], inFlight: () => 0, overrides: '{"catalog": {"bulkhead": {"maxConcurrent": 3}}}' }),
      (error: unknown) => error instanceof ConfigError && /COMMAND_POLICY_OVERRIDES: "catalog.bulkhead.maxConcurrent" is not a policy field/.test(error.message),
    );
  });
});
