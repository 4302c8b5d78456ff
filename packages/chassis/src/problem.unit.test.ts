import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutStackTrace } from './problem.ts';

describe('withoutStackTrace', () => {
  it('makes the error with its message and no frames, and leaves the stack limit as it was', () => {
    const limit = Error.stackTraceLimit;
    const error = withoutStackTrace(() => new Error('no answer in time'));
    assert.equal(error.message, 'no answer in time');
    assert.equal(error.stack, 'Error: no answer in time');
    assert.equal(Error.stackTraceLimit, limit);
    assert.match(new Error('after').stack!, /\n\s+at /, 'errors made afterwards have their frames');
  });

  it('restores the stack limit when making the error throws', () => {
    const limit = Error.stackTraceLimit;
    assert.throws(() =>
      withoutStackTrace(() => {
        throw new TypeError('failed to make it');
      }),
    );
    assert.equal(Error.stackTraceLimit, limit);
  });
});
