import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import type { MessageData } from '@bazaar/contracts/messages';
import { freshDatabase, testServerUrl } from '../../../runtime/src/testing/databases.ts';
import type { Queryable } from '../database.ts';
import { tracer, startTelemetry } from '../telemetry.ts';
import type { Broker, Delivery } from './broker.ts';
import { MessageConsumer, type MessageHandlers } from './consumer.ts';
import { DeadLetterQueue } from './dead-letters.ts';
import { Outbox, OutboxRelay } from './outbox.ts';
import { waitUntil } from './testing/broker-conformance.ts';
import { backlog, embeddedBackend, envelopeOf, natsBackend, quietLog, type TestBackend } from './testing/pipeline.ts';
import { Registry } from 'prom-client';

startTelemetry({ serviceName: 'pipeline-test' });

const EFFECTS = new URL('./testing/migrations/', import.meta.url);
const NAME = 'identity.user-registered.v1';
type Registered = MessageData<typeof NAME>;

const registered = (userId = randomUUID()): Registered => ({ userId, email: `u${userId.slice(0, 8)}@example.com`, name: 'Ada', registeredAt: new Date().toISOString() });

for (const adapter of ['embedded', 'nats'] as const) {
  describe(`outbox → ${adapter} broker → inbox`, () => {
    let backend: TestBackend;
    let database: Awaited<ReturnType<typeof freshDatabase>>;
    const stoppers: (() => Promise<void>)[] = [];
    const outbox = new Outbox('identity', [NAME]);

    beforeEach(async () => {
      backend = adapter === 'embedded' ? await embeddedBackend(testServerUrl()) : await natsBackend();
      database = await freshDatabase('pipeline', EFFECTS);
    });
    afterEach(async () => {
      for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {});
      await backend.cleanup();
      await database.drop();
    });

    async function broker(options = {}): Promise<Broker> {
      const b = backend.connect({ leaseMs: 1_000, ...options });
      await b.declare({ groups: { notifications: [NAME] } });
      stoppers.push(() => b.close());
      return b;
    }

    async function relay(b: Broker, options: { pollMs?: number; metrics?: Registry } = {}): Promise<OutboxRelay> {
      const r = new OutboxRelay({ db: database.db, broker: b, log: quietLog, pollMs: options.pollMs ?? 60_000, ...(options.metrics ? { metrics: options.metrics } : {}) });
      await r.start();
      stoppers.push(() => r.stop());
      return r;
    }

    async function consumer(b: Broker, handlers: MessageHandlers, options: { maxAttempts?: number; metrics?: Registry; batchLockTimeoutMs?: number; transactions?: number } = {}): Promise<MessageConsumer> {
      const c = new MessageConsumer({ group: 'notifications', db: database.db, broker: b, outbox, handlers, log: quietLog, backoffBaseMs: 50, ...options, maxAttempts: options.maxAttempts ?? 3 });
      await c.start();
      stoppers.push(() => c.stop());
      return c;
    }

    const recordEffect: MessageHandlers = {
      [NAME]: async (data: Registered, { tx, envelope }) => {
        await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
      },
    };

    async function effects(): Promise<{ total: number; distinct: number }> {
      const { rows } = await database.db.query<{ total: number; distinct: number }>('SELECT count(*)::int AS total, count(DISTINCT message_id)::int AS distinct FROM effects');
      return rows[0]!;
    }

    async function write(count: number, key?: string): Promise<string[]> {
      const ids: string[] = [];
      await database.db.transaction(async (tx) => {
        for (let i = 0; i < count; i += 1) {
          const data = registered();
          ids.push((await outbox.add(tx, NAME, data, { key: key ?? data.userId })).id);
        }
      });
      return ids;
    }

    it('publishes what committed, woken by the commit (no poll), and nothing of a rolled-back transaction', async () => {
      const b = await broker();
      await relay(b, { pollMs: 60_000 });
      await consumer(b, recordEffect);
      await assert.rejects(
        database.db.transaction(async (tx) => {
          await outbox.add(tx, NAME, registered(), { key: 'k' });
          throw new Error('the state change failed');
        }),
      );
      const ids = await write(3);
      await waitUntil(async () => (await effects()).total === 3, 10_000);
      const { rows } = await database.db.query<{ id: string }>('SELECT message_id::text AS id FROM effects ORDER BY handled_at');
      assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort());
      // Marked by the relay's next read or, nothing more being written, within its mark delay (the poll is a minute away).
      await waitUntil(async () => (await backlog(database.db)) === 0, 2_000);
    });

    it('marks published what it published before it stops, so a relay after it publishes nothing again', async () => {
      const b = await broker();
      const first = new OutboxRelay({ db: database.db, broker: b, log: quietLog, pollMs: 60_000, markDelayMs: 60_000 });
      await first.start();
      await consumer(b, recordEffect);
      await write(3);
      await waitUntil(async () => (await effects()).total === 3, 10_000);
      await first.stop();
      assert.equal(await backlog(database.db), 0);
      const second = await relay(b);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(second.published, 0);
    });

    it('marks a batch with the read of the next one (one statement per batch while messages keep coming)', async () => {
      const b = await broker();
      const r = new OutboxRelay({ db: database.db, broker: b, log: quietLog, pollMs: 60_000, markDelayMs: 60_000 });
      await r.start();
      stoppers.push(() => r.stop());
      await consumer(b, recordEffect);
      await write(2);
      await waitUntil(async () => r.published === 2, 10_000);
      assert.equal(await backlog(database.db), 2, 'published, not yet marked: nothing read since');
      await write(1);
      await waitUntil(async () => r.published === 3, 10_000);
      assert.equal(await backlog(database.db), 1, 'the read of the third marked the first two');
      // Published is not yet handled: wait for the consumer, then check nothing went twice.
      await waitUntil(async () => (await effects()).total >= 3, 10_000);
      assert.deepEqual(await effects(), { total: 3, distinct: 3 });
    });

    it('refuses to write a message that breaks its contract or that the topology does not give the service', async () => {
      await database.db.transaction(async (tx) => {
        await assert.rejects(outbox.add(tx, NAME, { ...registered(), userId: 'not-a-uuid' }, { key: 'k' }), /does not match its contract: data\/userId/);
        await assert.rejects(outbox.add(tx, 'catalog.stock-changed.v1', {} as never, { key: 'k' }), /identity does not publish catalog.stock-changed.v1/);
      });
    });

    it('keeps per-key order from the outbox to the handler, across batches and concurrent consumers', async () => {
      const b = await broker();
      const seen = new Map<string, number[]>();
      const handlers: MessageHandlers = {
        [NAME]: async (data: Registered, { envelope }) => {
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          const list = seen.get(envelope.key) ?? [];
          list.push(Number(data.name.slice(1)));
          seen.set(envelope.key, list);
        },
      };
      await consumer(b, handlers);
      await consumer(await broker(), handlers);
      for (let i = 0; i < 40; i += 1) {
        await database.db.transaction(async (tx) => {
          for (const key of ['a', 'b', 'c']) await outbox.add(tx, NAME, { ...registered(), name: `n${i}` }, { key });
        });
      }
      await relay(b);
      await waitUntil(() => ['a', 'b', 'c'].every((k) => (seen.get(k)?.length ?? 0) === 40), 20_000);
      for (const key of ['a', 'b', 'c']) assert.deepEqual(seen.get(key), Array.from({ length: 40 }, (_, i) => i), `order of key ${key}`);
    });

    it('applies a redelivered message once: the inbox absorbs a delivery whose ack was lost', async () => {
      const b = await broker();
      // Lose the first ack of every message: the lease runs out and the broker delivers it again.
      const lossy: Broker = {
        ...b,
        kind: b.kind,
        declare: (f) => b.declare(f),
        publish: (m) => b.publish(m),
        ping: () => b.ping(),
        close: async () => {},
        subscribe: (group, handler, options) =>
          b.subscribe(group, (delivery: Delivery) => handler(delivery.attempt === 1 ? { ...delivery, message: delivery.message, raw: delivery.raw, attempt: 1, ack: async () => {}, retry: delivery.retry, extend: delivery.extend } : delivery), options),
      };
      const metrics = new Registry();
      await consumer(lossy, recordEffect, { metrics });
      await relay(b);
      await write(5);
      await waitUntil(async () => (await metrics.getSingleMetricAsString('messages_consumed_total')).includes('outcome="duplicate"} 5'), 15_000);
      assert.deepEqual(await effects(), { total: 5, distinct: 5 });
    });

    /** `b`, counting the deliveries that reached the consumer, in the order they did. */
    function counting(b: Broker, received: string[]): Broker {
      return {
        kind: b.kind,
        declare: (flows) => b.declare(flows),
        publish: (messages) => b.publish(messages),
        listen: (names, onNotice, options) => b.listen(names, onNotice, options),
        ping: () => b.ping(),
        close: () => b.close(),
        subscribe: (group, handler, options) =>
          b.subscribe(
            group,
            async (delivery) => {
              received.push((delivery.message as { id: string }).id);
              await handler(delivery);
            },
            options,
          ),
      };
    }

    /** Each handler call: which message, which delivery attempt, in which transaction. */
    type Call = { id: string; attempt: number; tx: string };
    async function transactionOf(tx: Queryable): Promise<string> {
      return (await tx.query<{ tx: string }>('SELECT txid_current()::text AS tx')).rows[0]!.tx;
    }

    it('commits messages that arrive together in one transaction (group commit), each applied once', async () => {
      const received: string[] = [];
      const calls: Call[] = [];
      const metrics = new Registry();
      await consumer(
        counting(await broker(), received),
        {
          [NAME]: async (data: Registered, { tx, envelope, attempt }) => {
            calls.push({ id: envelope.id, attempt, tx: await transactionOf(tx) });
            // The first message holds its transaction open until others have arrived: they join it.
            if (envelope.id === received[0]) await waitUntil(() => received.length >= 3, 5_000);
            await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
          },
        },
        // One transaction running handlers, so that every arrival joins the first.
        { metrics, transactions: 1 },
      );
      const ids = await write(12);
      await relay(await broker());
      await waitUntil(async () => (await effects()).total >= 12, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would show up now
      assert.deepEqual(await effects(), { total: 12, distinct: 12 });
      assert.deepEqual(new Set(calls.map((c) => c.id)), new Set(ids));
      assert.equal(calls.length, 12, 'every handler ran once: no batch fell back');
      const byTransaction = Map.groupBy(calls, (c) => c.tx);
      assert.ok(byTransaction.size < 12, `fewer transactions than messages (${byTransaction.size})`);
      assert.ok(byTransaction.get(calls[0]!.tx)!.length >= 3, 'the first transaction took the messages that arrived while it ran');
      const sizes = (await metrics.getSingleMetric('message_handling_batch_size')!.get()).values as { metricName?: string; value: number }[];
      assert.equal(sizes.find((v) => v.metricName === 'message_handling_batch_size_sum')?.value, 12);
      assert.equal(sizes.find((v) => v.metricName === 'message_handling_batch_size_count')?.value, byTransaction.size);
    });

    it('handles again, each alone, the messages of a batch in which one handler failed: the failing one is retried, the others commit once', async () => {
      const received: string[] = [];
      const calls: Call[] = [];
      await consumer(
        counting(await broker(), received),
        {
          [NAME]: async (data: Registered, { tx, envelope, attempt }) => {
            calls.push({ id: envelope.id, attempt, tx: await transactionOf(tx) });
            if (envelope.id === received[0]) await waitUntil(() => received.length >= 2, 5_000);
            if (envelope.id === received[1] && attempt === 1) throw new Error('the second message fails on its first delivery');
            await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
          },
        },
        { transactions: 1 },
      );
      await write(6);
      await relay(await broker());
      await waitUntil(async () => (await effects()).total >= 6, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await effects(), { total: 6, distinct: 6 });
      const [first, failing] = received as [string, string];
      const firstCalls = calls.filter((c) => c.id === first);
      const failingCalls = calls.filter((c) => c.id === failing);
      assert.equal(failingCalls[0]!.tx, firstCalls[0]!.tx, 'the two shared a transaction');
      assert.equal(firstCalls.length, 2, 'the first ran in the batch, then alone');
      assert.notEqual(firstCalls[1]!.tx, firstCalls[0]!.tx);
      assert.deepEqual(
        failingCalls.map((c) => c.attempt),
        [1, 1, 2],
        'the failing one ran in the batch, failed alone, and was redelivered',
      );
    });

    it('runs a second transaction while the first one\'s handler is slow (transactions: 2, the default)', async () => {
      const received: string[] = [];
      const calls: Call[] = [];
      await consumer(counting(await broker(), received), {
        [NAME]: async (data: Registered, { tx, envelope, attempt }) => {
          calls.push({ id: envelope.id, attempt, tx: await transactionOf(tx) });
          // The first message's transaction stays open until another message has committed beside it.
          if (envelope.id === received[0]) await waitUntil(async () => (await effects()).total >= 1, 5_000);
          await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
        },
      });
      await write(4);
      await relay(await broker());
      await waitUntil(async () => (await effects()).total >= 4, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await effects(), { total: 4, distinct: 4 });
      const first = calls.find((c) => c.id === received[0])!;
      assert.ok(calls.some((c) => c.tx !== first.tx), 'another transaction ran beside the first');
      assert.equal(calls.filter((c) => c.id === received[0]).length, 1, 'the first message ran once: its batch did not fail');
    });

    it('gives up a lock wait in a batch after batchLockTimeoutMs and handles the message alone, waiting as long as it needs, without spending an attempt', async () => {
      await database.db.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters VALUES (1, 0)');
      const calls: Call[] = [];
      const metrics = new Registry();
      await consumer(
        await broker(),
        {
          [NAME]: async (data: Registered, { tx, envelope, attempt }) => {
            calls.push({ id: envelope.id, attempt, tx: await transactionOf(tx) });
            await tx.query('UPDATE counters SET n = n + 1 WHERE id = 1');
            await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
          },
        },
        { batchLockTimeoutMs: 50, metrics },
      );
      // Another transaction holds the row for 600 ms.
      const holder = await database.db.pool.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT n FROM counters WHERE id = 1 FOR UPDATE');
      const released = new Promise((resolve) => setTimeout(resolve, 600)).then(async () => {
        await holder.query('COMMIT');
        holder.release();
      });
      const [id] = await write(1);
      await relay(await broker());
      await released;
      await waitUntil(async () => (await effects()).total === 1, 10_000);
      assert.equal((await database.db.query<{ n: number }>('SELECT n FROM counters')).rows[0]!.n, 1);
      assert.deepEqual(
        calls.map((c) => [c.id, c.attempt]),
        [
          [id, 1],
          [id, 1],
        ],
        'given up in its batch, then handled alone on the same delivery',
      );
      const consumed = (await metrics.getSingleMetric('messages_consumed_total')!.get()).values;
      assert.deepEqual(
        consumed.map((v) => [v.labels['outcome'], v.value]),
        [['handled', 1]],
      );
    });

    it('retries a failing handler with backoff, then dead-letters it with the last error; the key moves on', async () => {
      const b = await broker();
      const attempts: number[] = [];
      let poisonId = '';
      const c = await consumer(
        b,
        {
          [NAME]: async (data: Registered, { tx, envelope }) => {
            if (envelope.id === poisonId) {
              attempts.push(Date.now());
              throw new Error(`cannot welcome ${data.name} (attempt ${attempts.length})`);
            }
            await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
          },
        },
        { maxAttempts: 3 },
      );
      let ids: string[] = [];
      await database.db.transaction(async (tx) => {
        poisonId = (await outbox.add(tx, NAME, { ...registered(), name: 'Poison' }, { key: 'same' })).id;
        ids = [(await outbox.add(tx, NAME, registered(), { key: 'same' })).id];
      });
      await relay(b);
      await waitUntil(async () => (await effects()).total === 1, 15_000);
      assert.equal(attempts.length, 3, 'three attempts, then the dead-letter queue');
      const queue = new DeadLetterQueue(database.db, c);
      const { items } = await queue.list();
      assert.equal(items.length, 1);
      assert.equal(items[0]!.messageId, poisonId);
      assert.equal(items[0]!.reason, 'HANDLER_FAILED');
      assert.equal(items[0]!.attempts, 3);
      assert.match(items[0]!.error, /cannot welcome Poison \(attempt 3\)/);
      assert.ok(ids.length === 1);
    });

    it('dead-letters a schema-invalid message at once, without blocking the ones behind it; replay after a fix applies it once', async () => {
      const b = await broker();
      let broken = true;
      const c = await consumer(b, {
        [NAME]: async (data: Registered, { tx, envelope }) => {
          if (data.name === 'Bug' && broken) throw new Error('handler bug');
          await tx.query('INSERT INTO effects (message_id, user_id) VALUES ($1, $2)', [envelope.id, data.userId]);
        },
      }, { maxAttempts: 1 });
      const invalid = envelopeOf(NAME, 'k', { userId: 'nope', email: 'x', name: '', registeredAt: 'yesterday' });
      const behind = envelopeOf(NAME, 'k', registered());
      const buggy = envelopeOf(NAME, 'k2', { ...registered(), name: 'Bug' });
      await b.publish([invalid, behind, buggy]);
      await waitUntil(async () => (await effects()).total === 1, 10_000);
      const queue = new DeadLetterQueue(database.db, c);
      await waitUntil(async () => (await queue.list()).total === 2, 10_000);
      const letters = (await queue.list()).items;
      const schema = letters.find((l) => l.messageId === invalid.id)!;
      assert.equal(schema.reason, 'SCHEMA_INVALID');
      assert.equal(schema.attempts, 1);
      assert.match(schema.error, /data\/userId must match format "uuid"/);
      const bug = letters.find((l) => l.messageId === buggy.id)!;
      assert.equal(bug.reason, 'HANDLER_FAILED');

      // Still broken: the replay fails and the dead letter stays, with the count of replays.
      assert.equal((await queue.replay(bug.id))!.outcome, 'failed');
      assert.equal((await queue.get(bug.id))!.replays, 1);
      broken = false;
      assert.deepEqual(await queue.replay(bug.id), { id: bug.id, outcome: 'delivered' });
      assert.equal(await queue.replay(bug.id), undefined, 'gone from the queue once delivered');
      // The schema-invalid one cannot be replayed into a handler.
      const results = await queue.replayAll();
      assert.deepEqual(results.map((r) => r.outcome), ['failed']);
      assert.deepEqual(await effects(), { total: 2, distinct: 2 });
      assert.equal((await queue.list()).total, 1);
      assert.equal(await queue.discard(schema.id), true);
      assert.equal((await queue.list()).total, 0);
    });

    it('buffers in the outbox while the broker refuses, reports the backlog, and delivers everything after', async () => {
      const b = await broker();
      let down = true;
      const flaky: Broker = {
        ...b,
        kind: b.kind,
        declare: (f) => b.declare(f),
        subscribe: (g, h, o) => b.subscribe(g, h, o),
        ping: () => b.ping(),
        close: async () => {},
        publish: async (messages) => {
          if (down) throw new Error('broker unavailable');
          return b.publish(messages);
        },
      };
      const metrics = new Registry();
      await relay(flaky, { pollMs: 100, metrics });
      await consumer(b, recordEffect);
      await write(10);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await backlog(database.db), 10);
      const text = await metrics.metrics();
      assert.match(text, /outbox_backlog_messages\S* 10/);
      assert.match(text, /outbox_oldest_unpublished_age_seconds\S* 0\.[1-9]/);
      down = false;
      await waitUntil(async () => (await effects()).total === 10, 15_000);
      await waitUntil(async () => (await backlog(database.db)) === 0, 2_000);
    });

    it('continues the writer\'s trace in the handler, and carries correlation and causation ids', async () => {
      const b = await broker();
      let handlerTrace = '';
      let seen: { correlationId: string; causationId: string | null } | undefined;
      await consumer(b, {
        [NAME]: async (_data, { envelope }) => {
          handlerTrace = trace.getSpan(context.active())?.spanContext().traceId ?? '';
          seen = { correlationId: envelope.correlationId, causationId: envelope.causationId };
        },
      });
      await relay(b);
      let writerTrace = '';
      await tracer().startActiveSpan('POST /api/identity/register', async (span) => {
        writerTrace = span.spanContext().traceId;
        await write(1);
        span.end();
      });
      await waitUntil(() => handlerTrace !== '', 10_000);
      assert.equal(handlerTrace, writerTrace);
      assert.ok(seen?.correlationId);
      assert.equal(seen?.causationId, null);
    });

    it('prunes published outbox rows and old inbox records on their schedules', async () => {
      const b = await broker();
      const r = await relay(b);
      const c = await consumer(b, recordEffect);
      await write(3);
      await waitUntil(async () => (await effects()).total === 3, 10_000);
      await database.db.query(`UPDATE outbox SET published_at = now() - interval '2 hours' WHERE seq = (SELECT min(seq) FROM outbox)`);
      await database.db.query(`UPDATE inbox SET processed_at = now() - interval '15 days' WHERE message_id = (SELECT message_id FROM inbox LIMIT 1)`);
      assert.equal(await r.prune(), 1, 'published rows older than the retention (1 h) go');
      assert.equal(await c.pruneInbox(), 1, 'inbox records older than 14 days go');
      const left = await database.db.query<{ outbox: number; inbox: number }>('SELECT (SELECT count(*)::int FROM outbox) AS outbox, (SELECT count(*)::int FROM inbox) AS inbox');
      assert.deepEqual(left.rows[0], { outbox: 2, inbox: 2 });
    });

    it('lets only one relay of a database publish at a time', async () => {
      const b = await broker();
      const first = await relay(b);
      const second = await relay(await broker());
      await consumer(b, recordEffect);
      await write(20);
      await waitUntil(async () => (await effects()).total === 20, 10_000);
      assert.equal([first, second].filter((r) => r.isLeader).length, 1);
      assert.equal(first.published + second.published, 20);
      assert.deepEqual(await effects(), { total: 20, distinct: 20 });
    });
  });
}
