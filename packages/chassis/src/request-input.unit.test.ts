import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import AjvCompiler from '@fastify/ajv-compiler';
import { finiteNumbersOnly, hasNul, isNonFinite, pathWhere } from './request-input.ts';

describe('finding what a request must not carry', () => {
  it('names the first field that holds a NUL character, in values and in keys', () => {
    assert.equal(pathWhere({ name: 'ok', address: { line1: 'a\u0000b' } }, 'body', hasNul), 'body/address/line1');
    assert.equal(pathWhere({ items: [{ sku: 'x' }, { sku: '\u0000' }] }, 'body', hasNul), 'body/items/1/sku');
    assert.equal(pathWhere({ 'a\u0000': 1 }, 'querystring', hasNul), 'querystring');
    assert.equal(pathWhere('\u0000', 'params', hasNul), 'params');
  });

  it('finds none in clean input of any shape', () => {
    for (const value of [undefined, null, 0, true, '', 'text with \u0001 and é', [1, 'a', null], { a: { b: [{ c: 'd', n: 1e308 }] } }]) {
      assert.equal(pathWhere(value, 'body', hasNul), undefined, JSON.stringify(value));
      assert.equal(pathWhere(value, 'body', isNonFinite), undefined, JSON.stringify(value));
    }
  });

  it('walks a document nested deeper than the call stack would allow', () => {
    let deep: unknown = 'bottom\u0000';
    for (let level = 0; level < 200_000; level++) deep = [deep];
    assert.match(pathWhere(deep, 'body', hasNul)!, /^body(\/0){200000}$/);
  });
});

describe('a coercing validator with finite numbers only', () => {
  const compile = AjvCompiler()({}, { customOptions: { useDefaults: true, allErrors: true, coerceTypes: 'array' } });
  const schema = { type: 'object', properties: { page: { type: 'integer', minimum: 1, maximum: 100 }, ratio: { type: 'number', maximum: 1 } } };
  const plain = compile({ schema, method: 'GET', url: '/x', httpPart: 'querystring' });
  const validate = finiteNumbersOnly(compile({ schema, method: 'GET', url: '/x', httpPart: 'querystring' }));

  it('refuses what Ajv alone lets through as Infinity (ajv#2212), naming the field', () => {
    for (const text of ['1e309', '-1e309', 'Infinity']) {
      assert.equal(plain({ page: text }), true, `Ajv alone still accepts ${text}: drop the wrapper when it no longer does`);
      const query = { page: text };
      assert.equal(validate(query), false, text);
      assert.deepEqual((validate.errors as Array<{ instancePath: string; message: string }>).map((error) => [error.instancePath, error.message]), [['/page', 'must be a finite number']]);
      assert.equal(validate({ ratio: text }), false, `ratio=${text}`);
    }
  });

  it('keeps Ajv\'s answer for everything else, coercion and errors alike', () => {
    const query = { page: '7', ratio: '0.5' };
    assert.equal(validate(query), true);
    assert.deepEqual(query, { page: 7, ratio: 0.5 });
    assert.equal(validate({ page: '500' }), false);
    assert.match(JSON.stringify(validate.errors), /must be <= 100/);
    assert.equal(validate({ page: '1.5' }), false);
    assert.match(JSON.stringify(validate.errors), /must be integer/);
  });
});
