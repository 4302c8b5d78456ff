import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../config.ts';
import { parseOverrides } from './upstreams.ts';

describe('CALL_POLICY_OVERRIDES', () => {
  it('takes partial policies by dependency', () => {
    assert.deepEqual(parseOverrides('{"catalog":{"timeoutMs":1000,"bulkhead":{"maxConcurrent":8}},"*":{"balancer":"round-robin"}}'), {
      catalog: { timeoutMs: 1000, bulkhead: { maxConcurrent: 8 } },
      '*': { balancer: 'round-robin' },
    });
    assert.deepEqual(parseOverrides(''), {});
  });

  it('refuses what is not a policy, naming the field', () => {
    const refused = (text: string) => {
      try {
        parseOverrides(text);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.problems.join('\n');
      }
      assert.fail(`accepted ${text}`);
    };
    assert.match(refused('not json'), /is not JSON/);
    assert.match(refused('[1]'), /must be an object by dependency/);
    assert.match(refused('{"catalog":3}'), /"catalog" must be an object/);
    assert.match(refused('{"catalog":{"timeout":5}}'), /"catalog.timeout" is not a policy field/);
    assert.match(refused('{"catalog":{"bulkhead":{"max":8}}}'), /"catalog.bulkhead.max" is not a policy field/);
    assert.match(refused('{"catalog":{"timeoutMs":"1000"}}'), /"catalog.timeoutMs" must be a number/);
    assert.match(refused('{"catalog":{"retry":5}}'), /"catalog.retry" must be an object/);
    assert.match(refused('{"catalog":{"balancer":"random"}}'), /"catalog.balancer" must be/);
  });
});
