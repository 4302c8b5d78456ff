import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startIdentity, strongPassword, uniqueEmail, type IdentityUnderTest } from '../testing/harness.ts';

let identity: IdentityUnderTest;
before(async () => {
  identity = await startIdentity();
});
after(() => identity?.close());

const register = (payload: unknown) => identity.app.inject({ method: 'POST', url: '/api/identity/register', payload: payload as object });

describe('POST /api/identity/register', () => {
  it('creates a customer with a normalized email', async () => {
    const email = uniqueEmail('Ada');
    const res = await register({ email: `  ${email.toUpperCase()} `, password: strongPassword(), name: ' Ada Lovelace ' });
    assert.equal(res.statusCode, 201);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['email', 'id', 'name', 'roles']);
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.equal(body.email, email);
    assert.equal(body.name, 'Ada Lovelace');
    assert.deepEqual(body.roles, ['customer']);
  });

  it('stores only an argon2id hash with the OWASP parameters', async () => {
    const email = uniqueEmail();
    const password = strongPassword();
    assert.equal((await register({ email, password, name: 'Hash' })).statusCode, 201);
    const { rows } = await identity.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE email = $1', [email]);
    const hash = rows[0]!.password_hash;
    assert.ok(hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), hash);
    assert.ok(!hash.includes(password));
  });

  it('refuses an email that is taken, whatever its case, with 409 EMAIL_TAKEN', async () => {
    const email = uniqueEmail('dup');
    assert.equal((await register({ email, password: strongPassword(), name: 'First' })).statusCode, 201);
    const res = await register({ email: email.toUpperCase(), password: strongPassword(), name: 'Second' });
    assert.equal(res.statusCode, 409);
    assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(res.json().code, 'EMAIL_TAKEN');
    // The account and its event commit together: one event, for the registration that succeeded.
    const { rows } = await identity.db.query<{ body: string }>(`SELECT body FROM outbox WHERE message_name = 'identity.user-registered.v1' AND body::jsonb->'data'->>'email' = $1`, [email]);
    assert.equal(rows.length, 1);
    assert.equal(JSON.parse(rows[0]!.body).data.name, 'First');
  });

  it('lets exactly one of many concurrent registrations of one email succeed', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => register({ email: i % 2 ? email : email.toUpperCase(), password: strongPassword(), name: `Racer ${i}` })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409]);
    const { rows } = await identity.db.query('SELECT 1 FROM users WHERE lower(email) = $1', [email]);
    assert.equal(rows.length, 1);
  });

  it('refuses weak passwords with 400 WEAK_PASSWORD and a clear reason', async () => {
    const email = uniqueEmail('weak');
    for (const [password, reason] of [
      ['short-1A!', /at least 12 characters/],
      ['x'.repeat(129), /at most 128 characters/],
      ['zzzzzzzzzzzzzzzz', /single character/],
      [email.toUpperCase(), /email/],
      ['Password123!', /common/],
      ['123456789012', /common/],
    ] as const) {
      const res = await register({ email, password, name: 'Weak' });
      assert.equal(res.statusCode, 400, password);
      const body = res.json();
      assert.equal(body.code, 'WEAK_PASSWORD');
      assert.match(body.detail, reason);
      assert.ok(!JSON.stringify(body).includes(password), 'the password is not echoed');
    }
    const { rows } = await identity.db.query('SELECT 1 FROM users WHERE email = $1', [email]);
    assert.equal(rows.length, 0);
  });

  it('refuses an invalid email with 400 VALIDATION_FAILED naming the field', async () => {
    const res = await register({ email: 'not-an-email', password: strongPassword(), name: 'X' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'VALIDATION_FAILED');
    assert.equal(res.json().errors[0].path, 'body/email');
  });

  it('refuses unknown and missing fields with 400 VALIDATION_FAILED', async () => {
    const extra = await register({ email: uniqueEmail(), password: strongPassword(), name: 'X', roles: ['admin'] });
    assert.equal(extra.statusCode, 400);
    assert.equal(extra.json().code, 'VALIDATION_FAILED');
    const missing = await register({ email: uniqueEmail(), password: strongPassword() });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, 'VALIDATION_FAILED');
    const blankName = await register({ email: uniqueEmail(), password: strongPassword(), name: '   ' });
    assert.equal(blankName.statusCode, 400);
    assert.equal(blankName.json().code, 'VALIDATION_FAILED');
  });

  it('refuses malformed JSON with 400 MALFORMED_BODY', async () => {
    const res = await identity.app.inject({
      method: 'POST',
      url: '/api/identity/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": "a@example.com", "password": ',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'MALFORMED_BODY');
  });

  it('refuses bodies that are not JSON with 415', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await identity.app.inject({
        method: 'POST',
        url: '/api/identity/register',
        headers: { 'content-type': contentType },
        payload: JSON.stringify({ email: uniqueEmail(), password: strongPassword(), name: 'X' }),
      });
      assert.equal(res.statusCode, 415, contentType);
      assert.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('documents every route in the OpenAPI document', async () => {
    const res = await identity.app.inject({ url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    const paths = Object.keys(res.json().paths);
    for (const path of [
      '/api/identity/register',
      '/api/identity/login',
      '/api/identity/refresh',
      '/api/identity/logout',
      '/api/identity/me',
      '/api/identity/me/addresses',
      '/api/identity/me/addresses/{id}',
      '/api/identity/.well-known/jwks.json',
      '/api/identity/keys/rotate',
    ]) {
      assert.ok(paths.includes(path), `${path} is documented`);
    }
  });
});
