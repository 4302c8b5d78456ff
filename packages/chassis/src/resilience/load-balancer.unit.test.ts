import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadBalancer, type Endpoint } from './load-balancer.ts';

const outlier = { consecutiveFailures: 3, ejectMs: 1_000, maxEjectedPercent: 50 };
/** mulberry32: a small deterministic PRNG, so a test's random choices are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const endpoints = (n: number): Endpoint[] => Array.from({ length: n }, (_, i) => ({ id: `i${i}`, url: `http://127.0.0.1:${9000 + i}` }));

describe('LoadBalancer', () => {
  it('round-robin takes every instance in turn', () => {
    const list = endpoints(3);
    const balancer = new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => list });
    const picked = Array.from({ length: 6 }, () => balancer.pick()!.id);
    assert.deepEqual(picked, ['i0', 'i1', 'i2', 'i0', 'i1', 'i2']);
  });

  it('least-outstanding avoids the instance with calls in flight', () => {
    const list = endpoints(2);
    const balancer = new LoadBalancer({ strategy: 'least-outstanding', outlier, instances: () => list });
    const busy = balancer.pick()!;
    for (let i = 0; i < 5; i++) balancer.begin(busy);
    for (let i = 0; i < 20; i++) assert.notEqual(balancer.pick()!.id, busy.id);
  });

  it('least-outstanding spreads concurrent calls evenly', () => {
    const list = endpoints(4);
    // A seeded random source: two random choices keep the gap small with high probability, not
    // always (Math.random made this test fail now and then with a gap of 3).
    const balancer = new LoadBalancer({ strategy: 'least-outstanding', outlier, instances: () => list, random: seededRandom(42) });
    for (let i = 0; i < 400; i++) balancer.begin(balancer.pick()!);
    const loads = balancer.snapshot().map((s) => s.outstanding);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 2, `loads ${loads.join(',')}`);
  });

  it('ejects an instance after consecutive failures, and takes it back after the ejection time', () => {
    let now = 0;
    const list = endpoints(3);
    const balancer = new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => list, now: () => now });
    const sick = balancer.pick()!;
    for (let i = 0; i < 3; i++) {
      balancer.begin(sick);
      balancer.end(sick, true);
    }
    assert.equal(balancer.snapshot().find((s) => s.id === sick.id)!.ejected, true);
    for (let i = 0; i < 10; i++) assert.notEqual(balancer.pick()!.id, sick.id);
    now = 1_001;
    assert.ok(Array.from({ length: 3 }, () => balancer.pick()!.id).includes(sick.id));
    // Failing again right away doubles the ejection.
    for (let i = 0; i < 3; i++) {
      balancer.begin(sick);
      balancer.end(sick, true);
    }
    now = 2_500;
    assert.equal(balancer.snapshot().find((s) => s.id === sick.id)!.ejected, true);
    now = 3_002;
    assert.equal(balancer.snapshot().find((s) => s.id === sick.id)!.ejected, false);
  });

  it('a success resets the count of failures in a row', () => {
    const list = endpoints(2);
    const balancer = new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => list });
    const state = balancer.pick()!;
    for (const failed of [true, true, false, true, true]) {
      balancer.begin(state);
      balancer.end(state, failed);
    }
    assert.equal(balancer.snapshot().find((s) => s.id === state.id)!.ejected, false);
  });

  it('never ejects more than maxEjectedPercent, and picks an ejected instance rather than none', () => {
    const list = endpoints(2);
    const balancer = new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => list });
    for (const state of [balancer.pick()!, balancer.pick()!]) {
      for (let i = 0; i < 3; i++) {
        balancer.begin(state);
        balancer.end(state, true);
      }
    }
    assert.equal(balancer.snapshot().filter((s) => s.ejected).length, 1);
    const single = new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => endpoints(1) });
    const only = single.pick()!;
    for (let i = 0; i < 5; i++) {
      single.begin(only);
      single.end(only, true);
    }
    assert.equal(single.pick()!.id, only.id, 'a single instance is never ejected: the breaker decides');
  });

  it('a retry prefers an instance not tried yet, and has none to pick when there are no instances', () => {
    const list = endpoints(2);
    const balancer = new LoadBalancer({ strategy: 'least-outstanding', outlier, instances: () => list });
    const first = balancer.pick()!;
    for (let i = 0; i < 10; i++) assert.notEqual(balancer.pick(new Set([first.id]))!.id, first.id);
    assert.equal(new LoadBalancer({ strategy: 'round-robin', outlier, instances: () => [] }).pick(), undefined);
  });
});
