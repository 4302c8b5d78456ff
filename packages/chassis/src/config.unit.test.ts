import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, Type, extendConfig, loadConfig } from './index.ts';

const Schema = extendConfig({ UPSTREAM_URL: Type.String({ format: 'uri' }), API_SECRET: Type.String({ minLength: 16 }) });
const valid = { SERVICE_NAME: 'svc', PORT: '8080', UPSTREAM_URL: 'http://127.0.0.1:1', API_SECRET: 'x'.repeat(16) };

describe('configuration from the environment', () => {
  it('converts types and applies defaults', () => {
    const config = loadConfig(Schema, valid);
    assert.equal(config.PORT, 8080);
    assert.equal(config.HOST, '127.0.0.1');
    assert.equal(config.LOG_LEVEL, 'info');
    assert.equal(config.BODY_LIMIT, 1_048_576);
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => loadConfig(Schema, { ...valid, PORT: 'eighty', LOG_LEVEL: 'loud' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error.problems.some((p) => p.startsWith('PORT:')), error.message);
        assert.ok(error.problems.some((p) => p.startsWith('LOG_LEVEL:')), error.message);
        assert.match(error.message, /"eighty"/);
        return true;
      },
    );
  });

  it('names a missing required variable', () => {
    const { UPSTREAM_URL: _omitted, ...rest } = valid;
    assert.throws(() => loadConfig(Schema, rest), /UPSTREAM_URL/);
  });

  it('never echoes a secret back', () => {
    assert.throws(
      () => loadConfig(Schema, { ...valid, API_SECRET: 'short-secret' }),
      (error: Error) => {
        assert.match(error.message, /API_SECRET/);
        assert.doesNotMatch(error.message, /short-secret/);
        return true;
      },
    );
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig(Schema, { ...valid, LOG_LEVEL: '' }).LOG_LEVEL, 'info');
  });
});
