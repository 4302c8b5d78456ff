import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Envelope } from '@bazaar/contracts/messages';
import { freshDatabase } from '../../../runtime/src/testing/databases.ts';
import type { Delivery } from './broker.ts';
import { EmbeddedBroker } from './embedded-broker.ts';
import { brokerConformance, envelope, waitUntil } from './testing/broker-conformance.ts';

brokerConformance('embedded (PostgreSQL)', async () => {
  const database = await freshDatabase('broker');
  return {
    connect: async (options) => new EmbeddedBroker(database.url, { ...options, pollMs: 1_000 }),
    cleanup: () => database.drop(),
  };
});

/**
 * A subscriber claims once per notification and, after a delivery settles, only
 * when something may be waiting. These run with the safety-net poll out of reach
 * (a minute), so a message left waiting fails them.
 */
describe('embedded broker: claiming without the poll', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let broker: EmbeddedBroker;
  before(async () => {
    database = await freshDatabase('broker');
    broker = new EmbeddedBroker(database.url, { pollMs: 60_000 });
  });
  after(async () => {
    await broker.close();
    await database.drop();
  });
  /** A consumer group of its own, on the test's message name. */
  const declaredGroup = async (name: string): Promise<string> => {
    const group = `${name}${randomUUID().slice(0, 8)}`;
    await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
    return group;
  };

  it('delivers a message held back behind its key as soon as the one before it is acknowledged', async () => {
    const group = await declaredGroup('held');
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await broker.subscribe(group, async (delivery: Delivery) => {
      const message = delivery.message as Envelope;
      seen.push(message.id);
      if (seen.length === 1) await gate;
      await delivery.ack();
    });
    const first = envelope('test.thing-happened', 'same-key');
    const second = envelope('test.thing-happened', 'same-key');
    await broker.publish([first]);
    await waitUntil(() => seen.length === 1, 5_000);
    await broker.publish([second]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(seen, [first.id], 'the second waits while the first is in flight');
    release();
    await waitUntil(() => seen.length === 2, 3_000);
    assert.deepEqual(seen, [first.id, second.id]);
  });

  it('works through messages of one key published together, one after the other', async () => {
    const group = await declaredGroup('samekey');
    const seen: string[] = [];
    await broker.subscribe(group, async (delivery: Delivery) => {
      seen.push((delivery.message as Envelope).id);
      await delivery.ack();
    });
    // One notification for all six, while nothing is in flight: each claim can take only the first left.
    const sent = Array.from({ length: 6 }, () => envelope('test.thing-happened', 'one-key'));
    await broker.publish(sent);
    await waitUntil(() => seen.length === sent.length, 3_000);
    assert.deepEqual(seen, sent.map((m) => m.id));
  });

  it('delivers the messages behind one that waited for its retry once it is acknowledged', async () => {
    const group = await declaredGroup('retried');
    const seen: string[] = [];
    let failed = false;
    await broker.subscribe(group, async (delivery: Delivery) => {
      if (!failed) {
        failed = true;
        await delivery.retry(100);
        return;
      }
      seen.push((delivery.message as Envelope).id);
      await delivery.ack();
    });
    const sent = Array.from({ length: 3 }, () => envelope('test.thing-happened', 'retried-key'));
    await broker.publish(sent);
    await waitUntil(() => seen.length === sent.length, 3_000);
    assert.deepEqual(seen, sent.map((m) => m.id));
  });

  it('works through a backlog larger than its concurrency', async () => {
    const group = await declaredGroup('backlog');
    const seen = new Set<string>();
    await broker.subscribe(
      group,
      async (delivery: Delivery) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        seen.add((delivery.message as Envelope).id);
        await delivery.ack();
      },
      { concurrency: 2 },
    );
    const sent = Array.from({ length: 9 }, (_, i) => envelope('test.thing-happened', `k${i}`));
    await broker.publish(sent);
    await waitUntil(() => seen.size === sent.length, 3_000);
  });
});
