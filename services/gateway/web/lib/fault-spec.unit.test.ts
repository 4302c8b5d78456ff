import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFault, faultFrom } from './fault-spec.js';

const blank = { target: 'payments', forSeconds: '30', latencyMs: '0', jitterMs: '0', errorPercent: '0', errorStatus: '503', resetPercent: '0', blackholePercent: '0', from: '', pathPrefix: '' };

describe('the Operations page\'s fault form', () => {
  it('sends only what was set, as the API takes it: rates as fractions, the end in milliseconds', () => {
    assert.deepEqual(faultFrom({ ...blank, latencyMs: '500' }), { forMs: 30_000, latencyMs: 500 });
    assert.deepEqual(faultFrom({ ...blank, forSeconds: '2.5', errorPercent: '20', errorStatus: '500', resetPercent: '5', from: 'orders', pathPrefix: '/api/payments' }), {
      forMs: 2_500,
      errorRate: 0.2,
      errorStatus: 500,
      resetRate: 0.05,
      from: 'orders',
      pathPrefix: '/api/payments',
    });
    assert.deepEqual(faultFrom({ ...blank, blackholePercent: '100', jitterMs: '40' }), { forMs: 30_000, jitterMs: 40, blackholeRate: 1 });
  });

  it('leaves the error status out without an error rate (the API refuses one alone)', () => {
    assert.deepEqual(faultFrom({ ...blank, errorStatus: '502', latencyMs: '10' }), { forMs: 30_000, latencyMs: 10 });
  });

  it('sends a fault that does nothing as it is, for the API to refuse with its reason', () => {
    assert.deepEqual(faultFrom(blank), { forMs: 30_000 });
  });
});

describe('a fault in words', () => {
  it('names each part that is set', () => {
    assert.equal(describeFault({ latencyMs: 500, jitterMs: 100, errorRate: 0.2, errorStatus: 500, from: 'gateway' }), 'latency 500 ms ± 100 ms, 20 % errors (500), from gateway');
    assert.equal(describeFault({ errorRate: 1 / 3 }), '33.3 % errors (503)');
    assert.equal(describeFault({ resetRate: 0.1, blackholeRate: 0.25, pathPrefix: '/api/x', forMs: 1000 }), '10 % resets, 25 % never answered, under /api/x');
    assert.equal(describeFault({ jitterMs: 50 }), 'latency 0 ms ± 50 ms');
  });
});
