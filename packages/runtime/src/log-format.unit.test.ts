import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatLogLine } from './log-format.ts';

it('turns a JSON log line into one readable line and leaves other lines alone', () => {
  const line = JSON.stringify({ level: 'warn', time: '2026-11-21T10:11:12.000Z', service: 'catalog', msg: 'slow query', ms: 120, traceId: 'abc' });
  assert.equal(formatLogLine(line, false), '10:11:12 WARN  slow query  ms=120');
  assert.equal(formatLogLine('plain text', false), 'plain text');
  assert.equal(formatLogLine('{not json', false), '{not json');
});
