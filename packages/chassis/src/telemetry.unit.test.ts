import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Context } from '@opentelemetry/api';
import { SamplingDecision, type Sampler } from '@opentelemetry/sdk-trace';
import { BaseConfig, loadConfig } from './config.ts';
import { samplerFor } from './telemetry.ts';

const traceId = () => randomBytes(16).toString('hex');
const records = (sampler: Sampler, parent: Context = ROOT_CONTEXT, id = traceId()) =>
  sampler.shouldSample(parent, id, 'GET /api/orders', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
const under = (sampled: boolean) =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId: traceId(), spanId: randomBytes(8).toString('hex'), traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true });
const share = (sampler: Sampler, parent?: Context) => Array.from({ length: 2_000 }, () => records(sampler, parent)).filter(Boolean).length / 2_000;

describe('head sampling (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)', () => {
  it('records every request by default, and follows the caller\'s decision', () => {
    const sampler = samplerFor();
    assert.equal(share(sampler), 1);
    assert.equal(records(sampler, under(false)), false, 'a caller that did not sample');
    assert.equal(records(sampler, under(true)), true);
  });

  it('records about the given share of new traces, the same decision for the same trace id, and every trace a caller sampled', () => {
    const sampler = samplerFor('parentbased_traceidratio', 0.25);
    const measured = share(sampler);
    assert.ok(measured > 0.2 && measured < 0.3, `recorded ${measured}`);
    const id = traceId();
    assert.equal(records(sampler, ROOT_CONTEXT, id), records(samplerFor('parentbased_traceidratio', 0.25), ROOT_CONTEXT, id), 'every service decides alike');
    assert.equal(share(sampler, under(true)), 1, 'a sampled caller is followed');
    assert.equal(share(sampler, under(false)), 0);
  });

  it('ignores the caller only when told to, and records nothing with always_off or a ratio of 0', () => {
    assert.equal(share(samplerFor('always_on'), under(false)), 1);
    assert.equal(share(samplerFor('traceidratio', 0), under(true)), 0);
    assert.equal(share(samplerFor('always_off'), under(true)), 0);
    assert.equal(share(samplerFor('parentbased_always_off')), 0);
    assert.equal(share(samplerFor('parentbased_traceidratio')), 1, 'the ratio is 1 unless given');
  });

  it('names a sampler or a ratio it does not know at boot', () => {
    const env = { SERVICE_NAME: 'probe', PORT: '0' };
    assert.throws(() => loadConfig(BaseConfig, { ...env, OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER/);
    assert.throws(() => loadConfig(BaseConfig, { ...env, OTEL_TRACES_SAMPLER_ARG: '1.5' }), /OTEL_TRACES_SAMPLER_ARG/);
    const config = loadConfig(BaseConfig, { ...env, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' });
    assert.equal(config.OTEL_TRACES_SAMPLER, 'parentbased_traceidratio');
    assert.equal(config.OTEL_TRACES_SAMPLER_ARG, 0.1);
  });
});
