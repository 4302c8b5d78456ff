import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { inlineSql, sqlLiteral } from './database.ts';

/** Strings rich in the characters escaping is about. */
const texts = fc.string({ unit: fc.oneof(fc.constantFrom("'", '\\', '"', 'E', ' ', '\n'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 60 });

describe('sqlLiteral', () => {
  it('writes every string exactly as pg.escapeLiteral does', () => {
    fc.assert(
      fc.property(texts, (text) => {
        assert.equal(sqlLiteral(text), pg.escapeLiteral(text));
      }),
      { numRuns: 2_000 },
    );
  });

  it('quotes, doubles quotes, and switches to an E literal for backslashes', () => {
    assert.equal(sqlLiteral(''), "''");
    assert.equal(sqlLiteral('{"a":1}'), `'{"a":1}'`);
    assert.equal(sqlLiteral("O'Brien"), "'O''Brien'");
    assert.equal(sqlLiteral('C:\\path'), " E'C:\\\\path'");
    assert.equal(sqlLiteral("it's \\ here"), " E'it''s \\\\ here'");
  });
});

describe('inlineSql', () => {
  it('inlines each placeholder as a literal, NULL for null and undefined', () => {
    assert.equal(inlineSql('SELECT $1, $2, $3, $1', ["a'b", null, 42]), "SELECT 'a''b', NULL, '42', 'a''b'");
    assert.throws(() => inlineSql('SELECT $2', ['only one']), /no value for \$2/);
  });
});
