import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, startIdentity, type IdentityUnderTest } from '../testing/harness.ts';

let identity: IdentityUnderTest;
before(async () => {
  identity = await startIdentity();
});
after(() => identity?.close());

const home = { label: 'Home', name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'gb' };

const me = (token?: string) => identity.app.inject({ url: '/api/identity/me', headers: token ? bearer(token) : {} });
const addAddress = (token: string, payload: object) =>
  identity.app.inject({ method: 'POST', url: '/api/identity/me/addresses', headers: bearer(token), payload });
const deleteAddress = (token: string, id: string) => identity.app.inject({ method: 'DELETE', url: `/api/identity/me/addresses/${id}`, headers: bearer(token) });

describe('GET /api/identity/me', () => {
  it('needs an access token', async () => {
    const res = await me();
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'UNAUTHENTICATED');
    assert.match(res.headers['www-authenticate'] as string, /^Bearer/);
    const garbage = await identity.app.inject({ url: '/api/identity/me', headers: { authorization: 'Bearer not-a-jwt' } });
    assert.equal(garbage.statusCode, 401);
  });

  it('answers the signed-in user with their addresses', async () => {
    const user = await identity.customer('me');
    const res = await me(user.accessToken);
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['addresses', 'createdAt', 'email', 'id', 'name', 'roles']);
    assert.equal(body.id, user.id);
    assert.equal(body.email, user.email);
    assert.deepEqual(body.roles, ['customer']);
    assert.deepEqual(body.addresses, []);
    assert.ok(Math.abs(Date.parse(body.createdAt) - Date.now()) < 60_000);
  });

  it('refuses a valid token of an account that no longer exists', async () => {
    const user = await identity.customer('deleted');
    await identity.db.query('DELETE FROM users WHERE id = $1', [user.id]);
    const res = await me(user.accessToken);
    assert.equal(res.statusCode, 401);
  });
});

describe('addresses', () => {
  it('adds an address and lists it in /me', async () => {
    const user = await identity.customer('addr');
    const res = await addAddress(user.accessToken, { ...home, line2: '  ' });
    assert.equal(res.statusCode, 201);
    const address = res.json();
    assert.match(address.id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers['location'], `/api/identity/me/addresses/${address.id}`);
    assert.equal(address.country, 'GB');
    assert.equal(address.line2, undefined);
    assert.equal(address.label, 'Home');

    const second = await addAddress(user.accessToken, { name: 'Ada', line1: 'Work St 1', city: 'Berlin', postalCode: '10115', country: 'DE' });
    assert.equal(second.statusCode, 201);

    const listed = (await me(user.accessToken)).json().addresses;
    assert.deepEqual(
      listed.map((a: { id: string }) => a.id),
      [address.id, second.json().id],
    );
    assert.deepEqual(listed[0], address);
  });

  it('validates the address', async () => {
    const user = await identity.customer('addrbad');
    for (const payload of [
      { ...home, country: 'XX' },
      { ...home, country: 'DEU' },
      { ...home, city: '   ' },
      { ...home, line1: undefined },
      { ...home, userId: '00000000-0000-4000-8000-000000000000' },
    ]) {
      const res = await addAddress(user.accessToken, payload);
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
    assert.deepEqual((await me(user.accessToken)).json().addresses, []);
  });

  it("cannot delete someone else's address: 404, and the address stays", async () => {
    const owner = await identity.customer('owner');
    const intruder = await identity.customer('intruder');
    const id = (await addAddress(owner.accessToken, home)).json().id as string;

    const res = await deleteAddress(intruder.accessToken, id);
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'ADDRESS_NOT_FOUND');
    assert.equal((await me(owner.accessToken)).json().addresses.length, 1);

    // Not even visible to the intruder.
    assert.deepEqual((await me(intruder.accessToken)).json().addresses, []);

    const own = await deleteAddress(owner.accessToken, id);
    assert.equal(own.statusCode, 204);
    assert.deepEqual((await me(owner.accessToken)).json().addresses, []);
    assert.equal((await deleteAddress(owner.accessToken, id)).statusCode, 404);
  });

  it('needs a token and a well-formed id', async () => {
    const anonymous = await identity.app.inject({ method: 'POST', url: '/api/identity/me/addresses', payload: home });
    assert.equal(anonymous.statusCode, 401);
    const user = await identity.customer('badid');
    const res = await deleteAddress(user.accessToken, 'not-a-uuid');
    assert.equal(res.statusCode, 400);
  });

  it('keeps at most 20 addresses per account', async () => {
    const user = await identity.customer('many');
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => addAddress(user.accessToken, { ...home, label: `No ${i}` })));
    const statuses = results.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 201).length, 20);
    assert.equal(statuses.filter((s) => s === 409).length, 4);
    assert.equal(results.find((r) => r.statusCode === 409)!.json().code, 'ADDRESS_LIMIT_REACHED');
    assert.equal((await me(user.accessToken)).json().addresses.length, 20);
  });
});
