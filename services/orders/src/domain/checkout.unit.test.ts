import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { onCancel, onDeadline, onReply, pendingCommand, type Action } from './checkout.ts';
import type { OrderEvent } from './order-events.ts';
import { checkoutSteps, compensationsFor, emptyOrder, evolve, type Order } from './order.ts';

const at = '2026-11-21T12:00:00.000Z';
const actions: Action[] = [...checkoutSteps, 'cancel-shipment', 'void-payment', 'refund-payment', 'release-stock'];

function placed(): Order {
  return evolve(
    emptyOrder('8a6e0f0e-4d6b-4b8e-9a44-2f7b8f3c1d01'),
    {
      type: 'OrderPlaced',
      data: {
        customerId: '5f0c6a36-2f76-4d37-8c3b-8b2f1c0e9a11',
        lines: [{ productId: '0b1f3a52-7a1c-4a47-9a38-4a9b0c6d2e11', name: 'Mug', quantity: 2, unitPrice: { amount: 1250, currency: 'EUR' } }],
        total: { amount: 2500, currency: 'EUR' },
        shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Paris', postalCode: '75001', country: 'FR' },
        payment: { token: 'pm_test_token', brand: 'visa', last4: '4242' },
        placedAt: at,
      },
    },
    at,
  );
}

type Input = { kind: 'reply'; action: Action; outcome: 'succeeded' | 'failed' } | { kind: 'deadline' } | { kind: 'cancel' };

const input: fc.Arbitrary<Input> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('reply' as const), action: fc.constantFrom(...actions), outcome: fc.constantFrom('succeeded' as const, 'failed' as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'deadline' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
);

function decide(order: Order, step: Input): OrderEvent[] {
  if (step.kind === 'reply') return onReply(order, { action: step.action, outcome: step.outcome, code: 'TEST_FAILURE', reason: 'test' }, at);
  if (step.kind === 'deadline') return onDeadline(order, at);
  try {
    return onCancel(order, at);
  } catch {
    return [];
  }
}

function run(inputs: readonly Input[]): { order: Order; events: OrderEvent[] } {
  let order = placed();
  const events: OrderEvent[] = [];
  for (const step of inputs) {
    for (const event of decide(order, step)) {
      events.push(event);
      order = evolve(order, event, at);
    }
  }
  return { order, events };
}

/** Answers whatever the saga waits on with `succeeded` until it ends; answers how many replies that took. */
function settle(order: Order): { order: Order; replies: number } {
  let replies = 0;
  for (let action = pendingCommand(order); action !== null; action = pendingCommand(order)) {
    for (const event of onReply(order, { action, outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    if (++replies > 20) break;
  }
  return { order, replies };
}

describe('checkout saga decisions', () => {
  it('confirms after the five steps succeed in order, and sends each command once', () => {
    let order = placed();
    const sent: Action[] = [];
    for (let action = pendingCommand(order); action !== null; action = pendingCommand(order)) {
      sent.push(action);
      for (const event of onReply(order, { action, outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    }
    assert.deepEqual(sent, checkoutSteps);
    assert.equal(order.status, 'CONFIRMED');
  });

  it('a decline at authorization releases the stock only (nothing was charged)', () => {
    let order = placed();
    for (const event of onReply(order, { action: 'reserve-stock', outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    for (const event of onReply(order, { action: 'authorize-payment', outcome: 'failed', code: 'CARD_DECLINED', reason: 'Your card was declined.' }, at)) order = evolve(order, event, at);
    assert.deepEqual(order.compensations, ['release-stock']);
    const { order: ended } = settle(order);
    assert.equal(ended.status, 'CANCELLED');
    assert.equal(ended.failure?.code, 'CARD_DECLINED');
    assert.equal(ended.failure?.reason, 'Your card was declined.');
  });

  it('a shipment refused after authorization voids the payment, then releases the stock', () => {
    let order = placed();
    for (const action of ['reserve-stock', 'authorize-payment'] as const) for (const event of onReply(order, { action, outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    for (const event of onReply(order, { action: 'create-shipment', outcome: 'failed', code: 'DESTINATION_UNSUPPORTED' }, at)) order = evolve(order, event, at);
    assert.deepEqual(order.compensations, ['void-payment', 'release-stock']);
  });

  it('a step that timed out is compensated too: its effect is unknown', () => {
    let order = placed();
    for (const event of onReply(order, { action: 'reserve-stock', outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    for (const event of onDeadline(order, at)) order = evolve(order, event, at);
    assert.deepEqual(order.compensations, ['void-payment', 'release-stock']);
    assert.equal(order.failure?.code, 'STEP_TIMED_OUT');
  });

  it('a failure in the first step has nothing to compensate and cancels at once', () => {
    const events = onReply(placed(), { action: 'reserve-stock', outcome: 'failed', code: 'OUT_OF_STOCK', reason: 'Only 0 left.' }, at);
    assert.deepEqual(events.map((e) => e.type), ['CheckoutStepFailed', 'OrderCancelled']);
  });

  it('plans compensations in reverse order of acquisition, refunding once the payment may be captured', () => {
    assert.deepEqual(compensationsFor(null), []);
    assert.deepEqual(compensationsFor('reserve-stock'), ['release-stock']);
    assert.deepEqual(compensationsFor('create-shipment'), ['cancel-shipment', 'void-payment', 'release-stock']);
    assert.deepEqual(compensationsFor('capture-payment'), ['cancel-shipment', 'refund-payment', 'release-stock']);
    assert.deepEqual(compensationsFor('commit-stock'), ['cancel-shipment', 'refund-payment', 'release-stock']);
  });

  it('a confirmed order cannot be cancelled; a cancelled one cancels again as a no-op', () => {
    const { order: confirmed } = settle(placed());
    assert.equal(confirmed.status, 'CONFIRMED');
    assert.throws(() => onCancel(confirmed, at), /can no longer be cancelled/);
    let order = placed();
    for (const event of onCancel(order, at)) order = evolve(order, event, at);
    const { order: cancelled } = settle(order);
    assert.equal(cancelled.status, 'CANCELLED');
    assert.deepEqual(onCancel(cancelled, at), []);
  });

  it('property: whatever arrives, in any order, the saga stays consistent and always ends', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
        const { order, events } = run(inputs);
        const types = events.map((e) => e.type);
        const succeeded = events.flatMap((e) => (e.type === 'CheckoutStepSucceeded' ? [e.data.step] : []));
        // Steps succeed only in order, each at most once.
        assert.deepEqual(succeeded, checkoutSteps.slice(0, succeeded.length));
        // At most one terminal event, and nothing after it.
        const terminal = types.findIndex((t) => t === 'OrderConfirmed' || t === 'OrderCancelled');
        if (terminal >= 0) assert.equal(terminal, types.length - 1);
        if (order.status === 'CONFIRMED') {
          assert.equal(succeeded.length, checkoutSteps.length);
          assert.ok(!types.includes('CheckoutStepFailed') && !types.includes('CancellationRequested'));
        }
        if (order.status === 'CANCELLED') {
          // Every compensation planned was done, in plan order, once.
          const done = events.flatMap((e) => (e.type === 'CompensationSucceeded' ? [e.data.compensation] : []));
          const failedAt = events.find((e) => e.type === 'CheckoutStepFailed' || e.type === 'CancellationRequested')!;
          const reached = failedAt.type === 'CheckoutStepFailed' && failedAt.data.code !== 'STEP_TIMED_OUT' ? succeeded.at(-1) ?? null : (checkoutSteps[succeeded.length] ?? null);
          assert.deepEqual(done, compensationsFor(reached));
          // Money captured is always given back; stock reserved always released.
          if (succeeded.includes('capture-payment')) assert.ok(done.includes('refund-payment'));
          if (succeeded.includes('reserve-stock')) assert.ok(done.includes('release-stock'));
        }
        // Liveness: from here, participants that answer yes end the saga in a few replies.
        const { order: ended, replies } = settle(order);
        assert.notEqual(ended.status, 'PENDING');
        assert.ok(replies <= checkoutSteps.length + 3);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a reply for anything but what the saga waits on changes nothing', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 20 }), fc.constantFrom(...actions), fc.constantFrom('succeeded' as const, 'failed' as const), (inputs, action, outcome) => {
        const { order } = run(inputs);
        fc.pre(pendingCommand(order) !== action);
        assert.deepEqual(onReply(order, { action, outcome }, at), []);
      }),
      { numRuns: 1000 },
    );
  });
});
