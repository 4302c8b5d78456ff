import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { UpstreamMetrics } from './upstream-metrics.ts';

/** The exposition's lines for one metric, without the HELP and TYPE lines. */
async function samples(registry: Registry, name: string): Promise<string[]> {
  return (await registry.getSingleMetricAsString(name)).split('\n').filter((line) => !line.startsWith('#'));
}

describe('UpstreamMetrics', () => {
  it('exposes call durations as a Prometheus histogram per upstream and outcome: cumulative buckets, +Inf, sum and count', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'gateway' });
    const metrics = new UpstreamMetrics(registry);
    for (const ms of [0.5, 1, 3, 700, 20_000]) metrics.completed('catalog', 'success', ms);
    metrics.completed('orders', 'timeout', 1_000);

    const text = await registry.getSingleMetricAsString('upstream_call_duration_seconds');
    assert.match(text, /^# TYPE upstream_call_duration_seconds histogram$/m);
    const lines = await samples(registry, 'upstream_call_duration_seconds');
    const value = (metric: string, labels: Record<string, string>) => {
      const line = lines.find((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      assert.ok(line, `${metric} ${JSON.stringify(labels)} in\n${lines.join('\n')}`);
      assert.match(line, /service="gateway"/);
      return Number(line.split(' ').at(-1));
    };
    const catalog = { upstream: 'catalog', outcome: 'success' };
    // A value on a bound counts in that bucket (le is "less than or equal").
    assert.equal(value('upstream_call_duration_seconds_bucket', { ...catalog, le: '0.001' }), 2);
    assert.equal(value('upstream_call_duration_seconds_bucket', { ...catalog, le: '0.005' }), 3);
    assert.equal(value('upstream_call_duration_seconds_bucket', { ...catalog, le: '1' }), 4);
    assert.equal(value('upstream_call_duration_seconds_bucket', { ...catalog, le: '10' }), 4);
    assert.equal(value('upstream_call_duration_seconds_bucket', { ...catalog, le: '+Inf' }), 5);
    assert.equal(value('upstream_call_duration_seconds_count', catalog), 5);
    assert.ok(Math.abs(value('upstream_call_duration_seconds_sum', catalog) - 20.7045) < 1e-9);
    assert.equal(value('upstream_call_duration_seconds_bucket', { upstream: 'orders', outcome: 'timeout', le: '0.5' }), 0);
    assert.equal(value('upstream_call_duration_seconds_bucket', { upstream: 'orders', outcome: 'timeout', le: '1' }), 1);
    assert.equal(lines.filter((l) => l.includes('upstream="orders"')).length, 14 + 2, 'one line per bucket with +Inf, the sum and the count');

    const json = (await registry.getMetricsAsJSON()).find((m) => m.name === 'upstream_call_duration_seconds');
    assert.equal(json?.type, 'histogram');
    registry.resetMetrics();
    assert.deepEqual(await samples(registry, 'upstream_call_duration_seconds'), []);
  });
});
