import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argon2id, hash as libraryHash } from 'argon2';
import { createDummyHash, hashPassword, verifyPassword } from './passwords.ts';

describe('password hashing', () => {
  it('uses argon2id with the OWASP parameters, in the reference PHC layout', async () => {
    const hash = await hashPassword('correct horse battery');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same password here'), await hashPassword('same password here'));
  });

  it('verifies the right password and only that', async () => {
    const hash = await hashPassword('correct horse battery');
    assert.equal(await verifyPassword(hash, 'correct horse battery'), true);
    assert.equal(await verifyPassword(hash, 'correct horse batterY'), false);
    assert.equal(await verifyPassword(hash, ''), false);
  });

  it('treats Unicode-equivalent spellings as the same password', async () => {
    const hash = await hashPassword('caf\u00e9 au lait please');
    assert.equal(await verifyPassword(hash, 'cafe\u0301 au lait please'), true);
  });

  it('still verifies hashes in the layout the argon2 package writes itself', async () => {
    const legacy = await libraryHash('correct horse battery', { type: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    assert.match(legacy, /m=19456,p=1,t=2/);
    assert.equal(await verifyPassword(legacy, 'correct horse battery'), true);
  });

  it('answers false, not an exception, for a malformed hash', async () => {
    assert.equal(await verifyPassword('not a hash', 'whatever'), false);
    assert.equal(await verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$AAAA$', 'whatever'), false);
  });

  it('makes a dummy hash nobody knows the password of', async () => {
    const dummy = await createDummyHash();
    assert.match(dummy, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(dummy, ''), false);
  });
});
