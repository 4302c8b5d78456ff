import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { behaviours } from './card.ts';
import { ProcessorUnavailableError, simulatedProcessor } from './processor.ts';

/** A processor whose waits are recorded instead of slept. */
function processor(slowDelayMs = 3_000) {
  const waits: number[] = [];
  return { waits, processor: simulatedProcessor({ slowDelayMs, wait: async (ms) => void waits.push(ms) }) };
}

describe('the simulated card processor', () => {
  it('approves an approving card without delay', async () => {
    const { processor: p, waits } = processor();
    assert.deepEqual(await p.authorize('approve', 1), { approved: true });
    assert.deepEqual(waits, []);
  });

  it('declines the declining test cards with a code and a reason a customer can read', async () => {
    const { processor: p } = processor();
    assert.deepEqual(await p.authorize('decline', 1), { approved: false, code: 'CARD_DECLINED', reason: 'Your card was declined.' });
    assert.deepEqual(await p.authorize('insufficient_funds', 3), { approved: false, code: 'INSUFFICIENT_FUNDS', reason: 'Your card has insufficient funds.' });
  });

  it('fails the transient card on the first delivery only', async () => {
    const { processor: p } = processor();
    await assert.rejects(p.authorize('transient', 1), ProcessorUnavailableError);
    assert.deepEqual(await p.authorize('transient', 2), { approved: true });
    assert.deepEqual(await p.authorize('transient', 5), { approved: true });
  });

  it('answers the slow card after the configured delay, then approves', async () => {
    const { processor: p, waits } = processor(1_234);
    assert.deepEqual(await p.authorize('slow', 1), { approved: true });
    assert.deepEqual(waits, [1_234]);
  });

  it('really waits with the default clock', async () => {
    const p = simulatedProcessor({ slowDelayMs: 60 });
    const started = performance.now();
    await p.authorize('slow', 1);
    assert.ok(performance.now() - started >= 55, 'the slow card took its time');
  });

  it('is deterministic: the same card and attempt always answer the same', async () => {
    const { processor: p } = processor(0);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...behaviours), fc.integer({ min: 1, max: 100 }), async (behaviour, attempt) => {
        const once = await p.authorize(behaviour, attempt).catch((error: unknown) => error);
        const twice = await p.authorize(behaviour, attempt).catch((error: unknown) => error);
        if (once instanceof Error) assert.ok(twice instanceof ProcessorUnavailableError && behaviour === 'transient' && attempt === 1);
        else assert.deepEqual(twice, once);
      }),
    );
  });
});
