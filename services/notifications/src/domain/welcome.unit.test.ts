import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { welcomeMessage } from './welcome.ts';

describe('the welcome message', () => {
  const message = welcomeMessage({ name: 'Ada Lovelace', email: 'ada@example.com' });

  it('greets the customer by name in the subject', () => {
    assert.equal(message.kind, 'welcome');
    assert.equal(message.subject, 'Welcome to Bazaar, Ada Lovelace!');
  });

  it('tells the customer which email address the account uses', () => {
    assert.match(message.body, /^Hi Ada Lovelace,/);
    assert.ok(message.body.includes('ada@example.com'));
  });

  it('fits the stored limits even for the longest names and addresses a registration allows', () => {
    const longest = welcomeMessage({ name: 'n'.repeat(100), email: `${'e'.repeat(242)}@example.com` });
    assert.ok(longest.subject.length <= 200);
    assert.ok(longest.body.length <= 10_000);
  });
});
