import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database, EmbeddedBroker, MessageHandlers, ServiceApp, ServiceContext } from '@bazaar/chassis';
import { checkMessage, type Envelope, type MessageData } from '@bazaar/contracts/messages';
import { eventually } from '@bazaar/runtime/testing/eventually';
import type { TestTokens } from '@bazaar/runtime/testing/tokens';
import { handle as handleMessage, serviceHarness, type ServiceHarness } from '@bazaar/runtime/testing/service-harness';
import { notificationsService } from '../app.ts';
import { NotificationRepository } from '../persistence/notification-repository.ts';

type UserRegistered = MessageData<'identity.user-registered.v1'>;

let harness: ServiceHarness;
let app: ServiceApp;
let context: ServiceContext;
let db: Database;
let broker: EmbeddedBroker;
let tokens: TestTokens;
let handlers: MessageHandlers;

after(() => harness?.close());

before(async () => {
  harness = await serviceHarness(notificationsService, { label: 'notifications', embeddedBroker: { pollMs: 200, flows: { groups: { notifications: ['identity.user-registered.v1'] } } } });
  ({ app, context, db, tokens, handlers } = harness);
  broker = harness.broker!;
});

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** A customer as identity registers them, and a token for them. */
async function newCustomer(name = 'Ada Lovelace'): Promise<{ userId: string; email: string; name: string; token: string }> {
  const userId = randomUUID();
  const email = `${userId.slice(0, 8)}@example.com`;
  return { userId, email, name, token: await tokens.issue({ userId, email, roles: ['customer'] }) };
}

/** The envelope identity's outbox writes when `customer` registers. */
function userRegistered(customer: { userId: string; email: string; name: string }): Envelope {
  const data: UserRegistered = { userId: customer.userId, email: customer.email, name: customer.name, registeredAt: new Date().toISOString() };
  const envelope: Envelope = {
    id: randomUUID(),
    type: 'identity.user-registered',
    version: 1,
    time: new Date().toISOString(),
    key: customer.userId,
    correlationId: randomUUID(),
    causationId: null,
    data,
  };
  const checked = checkMessage(envelope);
  assert.ok(checked.ok, 'the test envelope matches its contract');
  return envelope;
}

/** Runs the handler as the consumer does: in one transaction (here without the inbox). */
const handle = (envelope: Envelope): Promise<void> => handleMessage(harness, envelope);

async function inbox(token: string, query = ''): Promise<{ items: Array<Record<string, unknown>>; total: number; page: number; pageSize: number }> {
  const res = await app.inject({ url: `/api/notifications${query}`, headers: auth(token) });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** How many deliveries of user-registered the consumer settled with `outcome` (its Prometheus counter). */
async function consumed(outcome: string): Promise<number> {
  const res = await app.inject({ url: '/metrics' });
  const line = res.body
    .split('\n')
    .find((l) => l.startsWith('messages_consumed_total{') && l.includes('message="identity.user-registered.v1"') && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('welcoming new customers', () => {
  it('stores a welcome message in the new customer\'s inbox', async () => {
    const ada = await newCustomer('Ada Lovelace');
    await handle(userRegistered(ada));
    const { items, total } = await inbox(ada.token);
    assert.equal(total, 1);
    const welcome = items[0]!;
    assert.equal(welcome['kind'], 'welcome');
    assert.equal(welcome['channel'], 'inbox');
    assert.equal(welcome['subject'], 'Welcome to Bazaar, Ada Lovelace!');
    assert.ok((welcome['body'] as string).includes(ada.email), 'the body names the account\'s email address');
    assert.equal(welcome['readAt'], null);
    assert.ok(!Number.isNaN(Date.parse(welcome['createdAt'] as string)));
  });

  it('stores it once when the same registration is handled twice, even past the inbox', async () => {
    const grace = await newCustomer('Grace Hopper');
    const registration = userRegistered(grace);
    await handle(registration);
    await handle(registration);
    assert.equal((await inbox(grace.token)).total, 1);
  });

  it('writes in the transaction it is handed, so a rolled-back delivery leaves nothing', async () => {
    const alan = await newCustomer('Alan Turing');
    const rollback = new Error('the inbox record failed after the handler');
    await assert.rejects(
      db.transaction(async (client) => {
        const envelope = userRegistered(alan);
        await handlers['identity.user-registered.v1']!(envelope.data as UserRegistered, { tx: client, envelope, outbox: context.outbox, log: context.log, attempt: 1 });
        throw rollback;
      }),
      rollback,
    );
    assert.equal((await inbox(alan.token)).total, 0);
  });

  it('arrives through the broker: identity publishes, the customer finds the message', async () => {
    const edsger = await newCustomer('Edsger Dijkstra');
    await broker.publish([userRegistered(edsger)]);
    const welcome = await eventually(async () => (await inbox(edsger.token)).items[0], 'the welcome message');
    assert.equal(welcome['subject'], 'Welcome to Bazaar, Edsger Dijkstra!');
  });

  it('ignores a redelivery of a registration it already handled', async () => {
    const barbara = await newCustomer('Barbara Liskov');
    const registration = userRegistered(barbara);
    await broker.publish([registration]);
    await eventually(async () => (await inbox(barbara.token)).items[0], 'the welcome message');
    // The broker de-duplicates publishes on the message id while it remembers it;
    // once pruned, the same message is delivered again, as after a relay crash. It is
    // pruned only once its delivery is deleted, which the consumer's acknowledgement does
    // up to ackDelayMs after the handler committed: prune and publish until it comes again
    // (a publish of a message still remembered does nothing).
    const duplicatesBefore = await consumed('duplicate');
    await eventually(async () => {
      await broker.prune(0);
      await broker.publish([registration]);
      return (await consumed('duplicate')) > duplicatesBefore ? true : undefined;
    }, 'the redelivery to be settled');
    assert.equal((await inbox(barbara.token)).total, 1);
  });

  it('keeps the dead-letter admin routes under its prefix, for admins only', async () => {
    const admin = await tokens.issue({ roles: ['customer', 'admin'] });
    const customer = await newCustomer();
    assert.equal((await app.inject({ url: '/api/notifications/admin/dlq', headers: auth(admin) })).statusCode, 200);
    assert.equal((await app.inject({ url: '/api/notifications/admin/dlq', headers: auth(customer.token) })).statusCode, 403);
    // Replay-all takes an optional body: none at all is fine.
    const replayAll = await app.inject({ method: 'POST', url: '/api/notifications/admin/dlq/replay', headers: auth(admin) });
    assert.equal(replayAll.statusCode, 200, replayAll.body);
    assert.deepEqual(replayAll.json(), { replayed: 0, failed: 0, results: [] });
  });
});

describe('the inbox', () => {
  /** A customer with three notifications, oldest first: welcome, order-placed, order-shipped. */
  async function customerWithThreeNotifications() {
    const customer = await newCustomer('Katherine Johnson');
    const notifications = new NotificationRepository(db);
    for (const kind of ['welcome', 'order-placed', 'order-shipped']) {
      const sourceMessageId = randomUUID();
      await notifications.record({ recipientId: customer.userId, channel: 'inbox', kind, subject: `About ${kind}`, body: `All about ${kind}.`, sourceMessageId, dedupeKey: `${kind}:${sourceMessageId}` });
    }
    return customer;
  }

  it('lists the caller\'s notifications newest first, in pages', async () => {
    const customer = await customerWithThreeNotifications();
    const first = await inbox(customer.token, '?pageSize=2');
    assert.deepEqual(
      first.items.map((n) => n['kind']),
      ['order-shipped', 'order-placed'],
    );
    assert.equal(first.total, 3);
    assert.equal(first.page, 1);
    assert.equal(first.pageSize, 2);
    const second = await inbox(customer.token, '?pageSize=2&page=2');
    assert.deepEqual(
      second.items.map((n) => n['kind']),
      ['welcome'],
    );
    const beyond = await inbox(customer.token, '?pageSize=2&page=5');
    assert.deepEqual(beyond.items, []);
    assert.equal(beyond.total, 3, 'past the last page the total is still reported');
  });

  it('marks a notification read, once, and filters unread ones', async () => {
    const customer = await customerWithThreeNotifications();
    const [shipped] = (await inbox(customer.token)).items;
    const read = await app.inject({ method: 'POST', url: `/api/notifications/${shipped!['id']}/read`, headers: auth(customer.token) });
    assert.equal(read.statusCode, 200, read.body);
    const readAt = read.json().readAt as string;
    assert.ok(!Number.isNaN(Date.parse(readAt)));
    const again = await app.inject({ method: 'POST', url: `/api/notifications/${shipped!['id']}/read`, headers: auth(customer.token) });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().readAt, readAt, 'marking it again keeps the first time it was read');

    const unread = await inbox(customer.token, '?unread=true');
    assert.deepEqual(
      unread.items.map((n) => n['kind']),
      ['order-placed', 'welcome'],
    );
    assert.equal(unread.total, 2);
    assert.equal((await inbox(customer.token, '?unread=false')).total, 3, 'unread=false lists everything');
  });

  it('never shows or changes another customer\'s notifications', async () => {
    const owner = await customerWithThreeNotifications();
    const other = await newCustomer('Mallory');
    const [mine] = (await inbox(owner.token)).items;
    assert.equal((await inbox(other.token)).total, 0);

    const theirs = await app.inject({ method: 'POST', url: `/api/notifications/${mine!['id']}/read`, headers: auth(other.token) });
    assert.equal(theirs.statusCode, 404);
    assert.equal(theirs.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(theirs.json().code, 'NOTIFICATION_NOT_FOUND');
    assert.equal((await inbox(owner.token, '?unread=true')).total, 3, 'the owner\'s notification is still unread');

    const unknown = await app.inject({ method: 'POST', url: `/api/notifications/${randomUUID()}/read`, headers: auth(owner.token) });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'NOTIFICATION_NOT_FOUND');
  });

  it('answers 401 without a valid access token', async () => {
    const requests = [
      { method: 'GET' as const, url: '/api/notifications' },
      { method: 'POST' as const, url: `/api/notifications/${randomUUID()}/read` },
    ];
    for (const request of requests) {
      for (const headers of [{}, { authorization: 'Bearer not.a.token' }, auth(await tokens.issue({ expiresIn: '-1m' }))]) {
        const res = await app.inject({ ...request, headers });
        assert.equal(res.statusCode, 401, `${request.method} ${request.url} ${JSON.stringify(headers)}`);
        assert.equal(res.json().code, 'UNAUTHENTICATED');
      }
    }
    const noUser = await app.inject({ url: '/api/notifications', headers: auth(await tokens.issue({ userId: 'service-account' })) });
    assert.equal(noUser.statusCode, 401, 'a token whose subject is not a user id');
  });

  it('rejects bad query parameters and ids with problem+json', async () => {
    const { token } = await newCustomer();
    const requests = [
      { method: 'GET' as const, url: '/api/notifications?pageSize=1000' },
      { method: 'GET' as const, url: '/api/notifications?pageSize=0' },
      { method: 'GET' as const, url: '/api/notifications?page=0' },
      { method: 'GET' as const, url: '/api/notifications?page=two' },
      { method: 'GET' as const, url: '/api/notifications?unread=maybe' },
      { method: 'GET' as const, url: '/api/notifications?recipient=00000000-0000-4000-8000-000000000000' },
      { method: 'POST' as const, url: '/api/notifications/not-a-uuid/read' },
      { method: 'POST' as const, url: "/api/notifications/'%20OR%201=1--/read" },
    ];
    for (const request of requests) {
      const res = await app.inject({ ...request, headers: auth(token) });
      assert.equal(res.statusCode, 400, `${request.method} ${request.url}: ${res.body}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
  });
});
