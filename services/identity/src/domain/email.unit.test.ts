import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeEmail, parseEmail } from './email.ts';

describe('email normalization', () => {
  it('trims and lower-cases', () => {
    assert.equal(normalizeEmail('  Alice.Smith@Example.COM \n'), 'alice.smith@example.com');
    assert.equal(normalizeEmail('BOB@EXAMPLE.ORG'), normalizeEmail('bob@example.org'));
  });

  it('accepts ordinary addresses and returns them normalized', () => {
    for (const [raw, expected] of [
      [' Jane.Doe+shop@Example.co.uk ', 'jane.doe+shop@example.co.uk'],
      ['a@b.io', 'a@b.io'],
      ["o'brien@mail.example.com", "o'brien@mail.example.com"],
      ['x@xn--bcher-kva.example', 'x@xn--bcher-kva.example'],
    ]) {
      assert.deepEqual(parseEmail(raw!), { ok: true, email: expected });
    }
  });

  it('rejects what is not an address', () => {
    for (const raw of [
      '',
      '   ',
      'plainaddress',
      '@example.com',
      'user@',
      'user@localhost',
      'user@example',
      'user@@example.com',
      'us er@example.com',
      'user@exa mple.com',
      '.user@example.com',
      'user.@example.com',
      'us..er@example.com',
      'user@-example.com',
      'user@example.c',
      'user@example.123',
      `${'a'.repeat(65)}@example.com`,
      `a@${'b'.repeat(250)}.com`,
    ]) {
      const result = parseEmail(raw);
      assert.equal(result.ok, false, `expected ${JSON.stringify(raw)} to be rejected`);
    }
  });

  it('explains why an address is rejected', () => {
    const result = parseEmail('user@example');
    assert.equal(result.ok, false);
    assert.match((result as { reason: string }).reason, /domain/);
  });
});
