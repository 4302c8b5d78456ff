import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { AppError, installProblemHandlers, isStoreUnavailable, withoutStackTrace } from './problem.ts';

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

describe('the problem handlers’ logging', () => {
  async function logOf(error: Error): Promise<Array<Record<string, unknown>>> {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const app = Fastify({ loggerInstance: pino({ level: 'info' }, stream) as FastifyBaseLogger });
    installProblemHandlers(app);
    app.get('/fail', () => {
      throw error;
    });
    const response = await app.inject({ method: 'GET', url: '/fail' });
    await app.close();
    assert.ok(response.statusCode >= 500);
    return lines.filter((line) => line['msg'] !== 'incoming request' && line['msg'] !== 'request completed');
  }

  it('logs a refusal that sheds load as a warning without a stack', async () => {
    const lines = await logOf(new AppError('UPSTREAM_CIRCUIT_OPEN', 'catalog is not answering its commands'));
    assert.deepEqual(lines.map((line) => [line['level'], line['msg'], line['code']]), [[40, 'request refused: load shed', 'UPSTREAM_CIRCUIT_OPEN']]);
    assert.ok(!JSON.stringify(lines).includes('    at '), 'no stack trace');
  });

  it('logs any other server-side failure as an error with its stack', async () => {
    const lines = await logOf(new AppError('UPSTREAM_TIMEOUT', 'catalog did not answer in time'));
    assert.deepEqual(lines.map((line) => [line['level'], line['msg']]), [[50, 'request failed']]);
    assert.match(String((lines[0]!['err'] as { stack?: string }).stack), /\n\s+at /);
  });
});


describe('isStoreUnavailable', () => {
  const coded = (code: string) => Object.assign(new Error('x'), { code });
  it('recognises a database that cannot serve now', () => {
    for (const error of [coded('ECONNREFUSED'), coded('ETIMEDOUT'), coded('08006'), coded('08001'), coded('57P01'), coded('53300'), coded('57014'), new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect'), new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')])]) {
      assert.equal(isStoreUnavailable(error), true, `${(error as { code?: string }).code ?? error.message}`);
    }
  });
  it('leaves the request’s and the code’s own failures alone', () => {
    for (const error of [coded('42601'), coded('23505'), coded('22P02'), new Error('boom'), new TypeError('x is undefined'), null, undefined, 'text', new AggregateError([new Error('boom')])]) {
      assert.equal(isStoreUnavailable(error), false, String((error as { code?: string } | null)?.code ?? error));
    }
  });
});
