import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database, ServiceApp, ServiceContext } from '@bazaar/chassis';
import type { Envelope } from '@bazaar/contracts/messages';
import { eventually } from '@bazaar/runtime/testing/eventually';
import type { TestTokens } from '@bazaar/runtime/testing/tokens';
import { handle as handleMessage, serviceHarness, type ServiceHarness } from '@bazaar/runtime/testing/service-harness';
import { notificationsService } from '../app.ts';
import { NotificationRepository } from '../persistence/notification-repository.ts';
import { orderConfirmed, userRegistered } from '../testing/events.ts';
import { TestMailServer } from '../testing/mail-server.ts';
import { EmailSender } from './email-sender.ts';
import { smtpTransport } from './smtp-transport.ts';

const MAX_ATTEMPTS = 4;

let app: ServiceApp;
let context: ServiceContext;
let db: Database;
let tokens: TestTokens;
const mailServer = new TestMailServer();

let harness: ServiceHarness;
let cleanup = async () => {};
after(() => cleanup());

before(async () => {
  await mailServer.start();
  cleanup = () => mailServer.stop();
  // No broker: the test hands messages to the handlers itself. onStart starts the email sender, as runService does.
  harness = await serviceHarness(notificationsService, {
    label: 'notifications_email',
    env: { SMTP_URL: mailServer.url, EMAIL_POLL_MS: '50', EMAIL_BACKOFF_BASE_MS: '100', EMAIL_MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
    onStart: true,
  });
  cleanup = async () => {
    await harness.close(); // stops the email sender (onStop)
    await mailServer.stop();
  };
  ({ app, context, db, tokens } = harness);
});

/** Runs the envelope's handler as the consumer does: in one transaction. */
const handle = (envelope: Envelope): Promise<void> => handleMessage(harness, envelope);

async function registeredCustomer(name: string, localPart?: string) {
  const userId = randomUUID();
  const customer = { userId, email: `${localPart ?? userId.slice(0, 8)}@example.com`, name };
  await handle(userRegistered(customer));
  return { ...customer, token: await tokens.issue({ userId, email: customer.email, roles: ['customer'] }) };
}

async function inbox(token: string): Promise<Array<Record<string, unknown>>> {
  const res = await app.inject({ url: '/api/notifications?pageSize=100', headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().items;
}

interface EmailState {
  id: string;
  delivery_status: string;
  attempts: number;
  last_error: string | null;
  sent_at: Date | null;
}

async function emailOf(recipientId: string, kind: string): Promise<EmailState> {
  const { rows } = await db.query<EmailState>('SELECT id, delivery_status, attempts, last_error, sent_at FROM notifications WHERE recipient_id = $1 AND kind = $2', [recipientId, kind]);
  assert.equal(rows.length, 1, `one ${kind} notification`);
  return rows[0]!;
}

const messageIdOf = (notificationId: string) => `<${notificationId}@bazaar.local>`;

async function emailCounter(outcome: string): Promise<number> {
  const res = await app.inject({ url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith('notification_emails_total{') && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('emailing notifications', () => {
  it('emails the welcome to the address the customer registered, with the notification id as Message-ID', async () => {
    const ada = await registeredCustomer('Ada Lovelace');
    const welcome = await emailOf(ada.userId, 'welcome');
    const [mail] = await eventually(() => (mailServer.withMessageId(messageIdOf(welcome.id)).length ? mailServer.withMessageId(messageIdOf(welcome.id)) : undefined), 'the welcome email');
    assert.deepEqual(mail!.to, [ada.email]);
    assert.equal(mail!.subject, 'Welcome to Bazaar, Ada Lovelace!');
    assert.match(mail!.raw, /^From: Bazaar <no-reply@bazaar\.local>/m);
    await eventually(async () => ((await emailOf(ada.userId, 'welcome')).delivery_status === 'sent' ? true : undefined), 'the email marked sent');
    // Still in the inbox, with how its email went.
    const [listed] = await inbox(ada.token);
    assert.equal(listed!['channel'], 'email');
    assert.equal((listed!['delivery'] as { status: string }).status, 'sent');
    assert.ok(!Number.isNaN(Date.parse((listed!['delivery'] as { sentAt: string }).sentAt)));
  });

  it('emails order news to the registered address, once', async () => {
    const grace = await registeredCustomer('Grace Hopper');
    const orderId = randomUUID();
    const confirmed = orderConfirmed(orderId, grace.userId);
    await handle(confirmed);
    await handle(confirmed);
    const email = await emailOf(grace.userId, 'order-confirmed');
    const [mail] = await eventually(() => (mailServer.withMessageId(messageIdOf(email.id)).length ? mailServer.withMessageId(messageIdOf(email.id)) : undefined), 'the confirmation email');
    assert.deepEqual(mail!.to, [grace.email]);
    assert.equal(mail!.subject, 'Your order is confirmed');
    assert.ok(mail!.raw.includes(orderId));
    await eventually(async () => ((await emailOf(grace.userId, 'order-confirmed')).delivery_status === 'sent' ? true : undefined), 'the email marked sent');
    assert.equal(mailServer.mails.filter((m) => m.to.includes(grace.email) && m.subject === 'Your order is confirmed').length, 1);
  });

  it('keeps news for a customer without a known address in the inbox only', async () => {
    const customerId = randomUUID();
    await handle(orderConfirmed(randomUUID(), customerId));
    const [listed] = await inbox(await tokens.issue({ userId: customerId, roles: ['customer'] }));
    assert.equal(listed!['channel'], 'inbox');
    assert.equal(listed!['delivery'], null);
  });

  it('records the email while the mail server is down, retries, and delivers it once the server is back', async () => {
    const retriedBefore = await emailCounter('retried');
    await mailServer.stop();
    try {
      // The handler does not talk to the mail server: it succeeds while it is down.
      const alan = await registeredCustomer('Alan Turing');
      const failing = await eventually(async () => {
        const email = await emailOf(alan.userId, 'welcome');
        return email.attempts >= 2 && email.last_error ? email : undefined;
      }, 'two failed attempts');
      assert.equal(failing.delivery_status, 'pending', 'still pending while attempts remain');
      assert.match(failing.last_error!, /ECONNREFUSED/);
      const [listed] = await inbox(alan.token);
      assert.equal((listed!['delivery'] as { status: string }).status, 'pending');
      assert.ok((await emailCounter('retried')) >= retriedBefore + 2, 'the retries are counted');
    } finally {
      await mailServer.start();
    }
    const welcome = (await db.query<{ id: string; recipient_id: string }>("SELECT id, recipient_id FROM notifications WHERE kind = 'welcome' AND subject = 'Welcome to Bazaar, Alan Turing!'")).rows[0]!;
    await eventually(async () => ((await emailOf(welcome.recipient_id, 'welcome')).delivery_status === 'sent' ? true : undefined), 'the email sent once the server is back');
    assert.equal(mailServer.withMessageId(messageIdOf(welcome.id)).length, 1, 'delivered exactly once');
  });

  it('gives an email up after its last attempt: failed, counted, still in the inbox', async () => {
    const failedBefore = await emailCounter('failed');
    const bounce = await registeredCustomer('Bounce', `bounce-${randomUUID().slice(0, 8)}`);
    const email = await eventually(async () => {
      const state = await emailOf(bounce.userId, 'welcome');
      return state.delivery_status === 'failed' ? state : undefined;
    }, 'the email given up');
    assert.equal(email.attempts, MAX_ATTEMPTS);
    assert.match(email.last_error!, /550/);
    assert.equal(await emailCounter('failed'), failedBefore + 1);
    const [listed] = await inbox(bounce.token);
    assert.equal((listed!['delivery'] as { status: string }).status, 'failed');
    // Given up means given up: no further attempt.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await emailOf(bounce.userId, 'welcome')).attempts, MAX_ATTEMPTS);
  });

  it('shares the work among replicas: each email is sent once however many senders run', async () => {
    // Three more senders on the same database, as more replicas would run, besides the service's own.
    const replicas = [1, 2, 3].map(
      () => new EmailSender({ db, transport: smtpTransport(mailServer.url), from: 'Bazaar <no-reply@bazaar.local>', log: context.log, pollMs: 5, maxAttempts: 3, backoffBaseMs: 50, batchSize: 2 }),
    );
    for (const replica of replicas) replica.start();
    try {
      const recipientId = randomUUID();
      // All due at once (one transaction), so the senders go for the same emails at the same time.
      const ids = await db.transaction(async (tx) => {
        const notifications = new NotificationRepository(tx);
        for (let i = 0; i < 40; i++) {
          const sourceMessageId = randomUUID();
          await notifications.record({
            recipientId,
            channel: 'email',
            emailTo: `replicas-${i}@example.com`,
            kind: 'order-confirmed',
            subject: `Order ${i}`,
            body: 'Thanks.',
            sourceMessageId,
            dedupeKey: `order-confirmed:${sourceMessageId}`,
          });
        }
        return (await tx.query<{ id: string }>('SELECT id FROM notifications WHERE recipient_id = $1', [recipientId])).rows.map((r) => r.id);
      });
      assert.equal(ids.length, 40);
      await eventually(async () => {
        const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM notifications WHERE recipient_id = $1 AND delivery_status = 'sent'", [recipientId]);
        return rows[0]!.n === ids.length ? true : undefined;
      }, 'every email sent');
      for (const id of ids) assert.equal(mailServer.withMessageId(messageIdOf(id)).length, 1, `email ${id} sent once`);
    } finally {
      await Promise.all(replicas.map((replica) => replica.stop()));
    }
  });
});
