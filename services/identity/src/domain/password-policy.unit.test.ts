import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordPolicyViolation, preparePassword } from './password-policy.ts';

const email = 'alice@example.com';

describe('password policy', () => {
  it('accepts long, uncommon passwords', () => {
    for (const password of ['correct horse battery', 'Tq9-kR2vWm8xLp', 'zebra-lantern-quartz', '😀 unicode is fine here', 'x'.repeat(11) + 'y']) {
      assert.equal(passwordPolicyViolation(password, email), undefined, password);
    }
  });

  it(`requires at least ${PASSWORD_MIN_LENGTH} characters, counted as code points`, () => {
    assert.match(passwordPolicyViolation('Sh0rt-pass!', email)!, /at least 12 characters/);
    assert.equal(passwordPolicyViolation('Sh0rt-pass!x', email), undefined);
    // Eleven astral characters are 22 UTF-16 units but still 11 characters.
    assert.match(passwordPolicyViolation('🦊🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧', email)!, /at least/);
  });

  it(`allows at most ${PASSWORD_MAX_LENGTH} characters`, () => {
    assert.equal(passwordPolicyViolation('ab'.repeat(64), email), undefined);
    assert.match(passwordPolicyViolation('ab'.repeat(64) + 'c', email)!, /at most 128/);
  });

  it('rejects a single repeated character', () => {
    assert.match(passwordPolicyViolation('aaaaaaaaaaaaaaaa', email)!, /single character/);
    assert.match(passwordPolicyViolation('111111111111', email)!, /single character/);
  });

  it('rejects the email address, in any case, and its local part', () => {
    assert.match(passwordPolicyViolation('alice@example.com', email)!, /email/);
    assert.match(passwordPolicyViolation('ALICE@EXAMPLE.COM', ' Alice@Example.com ')!, /email/);
    const longLocal = 'alice.wonderland@example.com';
    assert.match(passwordPolicyViolation('Alice.Wonderland', longLocal)!, /email/);
  });

  it('rejects very common passwords and padded common words', () => {
    for (const password of ['123456789012', 'qwerty123456', 'Password1234', 'Password123!', 'P@ssw0rd2024!', '!!letmein!!!!', 'Welcome12345', 'Administrator1', 'QWERTYUIOP123']) {
      assert.match(passwordPolicyViolation(password, email) ?? '', /common/, password);
    }
  });

  it('never repeats the password in its explanation', () => {
    for (const password of ['short', 'Password123!', 'aaaaaaaaaaaaaaa', 'alice@example.com']) {
      const reason = passwordPolicyViolation(password, email)!;
      assert.ok(reason);
      assert.ok(!reason.toLowerCase().includes(password.toLowerCase()), reason);
    }
  });

  it('normalizes Unicode (NFKC) so equivalent spellings are one password', () => {
    assert.equal(preparePassword('ｐａｓｓｗｏｒｄ'), 'password');
    assert.equal(preparePassword('e\u0301'), preparePassword('\u00e9'));
    // Fullwidth digits are not a way around the common-password list.
    assert.match(passwordPolicyViolation('Ｐａｓｓｗｏｒｄ１２３４', email)!, /common/);
  });
});
