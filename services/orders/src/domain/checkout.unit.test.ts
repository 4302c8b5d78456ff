import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { onCancel, onDeadline, onReply, pendingCommands, type Action } from './checkout.ts';
import type { OrderEvent } from './order-events.ts';
import type { CheckoutStep } from './order-events.ts';
import { checkoutStages, checkoutSteps, compensationsFor, emptyOrder, evolve, type Order } from './order.ts';

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
  for (let pending = pendingCommands(order); pending.length > 0; pending = pendingCommands(order)) {
    for (const event of onReply(order, { action: pending[0]!, outcome: 'succeeded' }, at)) order = evolve(order, event, at);
    if (++replies > 20) break;
  }
  return { order, replies };
}

/** Applies the replies in turn. */
function reply(order: Order, ...replies: Array<[Action, 'succeeded' | 'failed', string?]>): Order {
  for (const [action, outcome, code] of replies) for (const event of onReply(order, { action, outcome, code }, at)) order = evolve(order, event, at);
  return order;
}

/** The steps whose effect may exist when the first failure or cancellation comes after `succeeded` (in that order). */
function reachedAt(succeeded: readonly CheckoutStep[], failed: CheckoutStep | undefined): CheckoutStep[] {
  let done = 0;
  const reached: CheckoutStep[] = [];
  for (const stage of checkoutStages) {
    reached.push(...stage);
    done += stage.length;
    if (succeeded.length < done) break;
  }
  return reached.filter((step) => step !== failed);
}

describe('checkout saga decisions', () => {
  it('confirms after the five steps succeed stage by stage, capture and commit side by side', () => {
    let order = placed();
    const stages: Action[][] = [];
    for (let pending = pendingCommands(order); pending.length > 0; pending = pendingCommands(order)) {
      stages.push([...pending]);
      for (const action of pending) order = reply(order, [action, 'succeeded']);
    }
    assert.deepEqual(stages, [['reserve-stock'], ['authorize-payment'], ['create-shipment'], ['capture-payment', 'commit-stock']]);
    assert.equal(order.status, 'CONFIRMED');
  });

  it('the last stage confirms only once both of its steps succeeded, whichever answers first', () => {
    for (const [first, second] of [['capture-payment', 'commit-stock'], ['commit-stock', 'capture-payment']] as const) {
      const order = reply(placed(), ['reserve-stock', 'succeeded'], ['authorize-payment', 'succeeded'], ['create-shipment', 'succeeded'], [first, 'succeeded']);
      assert.equal(order.status, 'PENDING');
      assert.deepEqual(pendingCommands(order), [second]);
      assert.deepEqual(onReply(order, { action: first, outcome: 'succeeded' }, at), [], 'a repeated reply changes nothing');
      assert.equal(reply(order, [second, 'succeeded']).status, 'CONFIRMED');
    }
  });

  it('a capture refused while the stock commit is in flight voids the payment and still gives the stock back', () => {
    const order = reply(placed(), ['reserve-stock', 'succeeded'], ['authorize-payment', 'succeeded'], ['create-shipment', 'succeeded'], ['capture-payment', 'failed', 'PAYMENT_NOT_AUTHORIZED']);
    assert.deepEqual(order.compensations, ['cancel-shipment', 'void-payment', 'release-stock']);
  });

  it('a stock commit refused after the capture refunds the payment', () => {
    const order = reply(placed(), ['reserve-stock', 'succeeded'], ['authorize-payment', 'succeeded'], ['create-shipment', 'succeeded'], ['capture-payment', 'succeeded'], ['commit-stock', 'failed', 'RESERVATION_EXPIRED']);
    assert.deepEqual(order.compensations, ['cancel-shipment', 'refund-payment', 'release-stock']);
    assert.equal(order.failure?.code, 'RESERVATION_EXPIRED');
  });

  it('a stock commit refused while the capture is in flight refunds too: the capture may still happen', () => {
    const order = reply(placed(), ['reserve-stock', 'succeeded'], ['authorize-payment', 'succeeded'], ['create-shipment', 'succeeded'], ['commit-stock', 'failed', 'RESERVATION_EXPIRED']);
    assert.deepEqual(order.compensations, ['cancel-shipment', 'refund-payment', 'release-stock']);
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
    assert.deepEqual(compensationsFor([]), []);
    assert.deepEqual(compensationsFor(['reserve-stock']), ['release-stock']);
    assert.deepEqual(compensationsFor(['reserve-stock', 'authorize-payment', 'create-shipment']), ['cancel-shipment', 'void-payment', 'release-stock']);
    assert.deepEqual(compensationsFor(['reserve-stock', 'authorize-payment', 'create-shipment', 'capture-payment']), ['cancel-shipment', 'refund-payment', 'release-stock']);
    assert.deepEqual(compensationsFor(['reserve-stock', 'authorize-payment', 'create-shipment', 'commit-stock']), ['cancel-shipment', 'void-payment', 'release-stock']);
    assert.deepEqual(compensationsFor(checkoutSteps), ['cancel-shipment', 'refund-payment', 'release-stock']);
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
        // Steps succeed stage by stage (in any order within a stage), each at most once.
        assert.equal(new Set(succeeded).size, succeeded.length);
        let stageStart = 0;
        for (const stage of checkoutStages) {
          const inStage = succeeded.slice(stageStart, stageStart + stage.length);
          assert.ok(inStage.every((step) => stage.includes(step)), `${inStage.join(',')} in stage ${stage.join(',')}`);
          stageStart += stage.length;
        }
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
          const refused = failedAt.type === 'CheckoutStepFailed' && failedAt.data.code !== 'STEP_TIMED_OUT' ? failedAt.data.step : undefined;
          assert.deepEqual(done, compensationsFor(reachedAt(succeeded, refused)));
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
        fc.pre(!pendingCommands(order).includes(action));
        assert.deepEqual(onReply(order, { action, outcome }, at), []);
      }),
      { numRuns: 1000 },
    );
  });
});
