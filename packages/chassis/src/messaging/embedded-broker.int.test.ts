import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Envelope } from '@bazaar/contracts/messages';
import { freshDatabase } from '../../../runtime/src/testing/databases.ts';
import type { Delivery } from './broker.ts';
import pg from 'pg';
import { EmbeddedBroker, groupChannel } from './embedded-broker.ts';
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

/** Acknowledgements ride on the subscriber's next claim; alone, they go after a short delay, and when it closes. */
describe('embedded broker: acknowledgements', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  const brokers: EmbeddedBroker[] = [];
  before(async () => {
    database = await freshDatabase('broker');
  });
  after(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    await database.drop();
  });
  const open = async (options: { leaseMs?: number; ackDelayMs?: number }): Promise<{ broker: EmbeddedBroker; group: string }> => {
    const broker = new EmbeddedBroker(database.url, { pollMs: 60_000, ...options });
    brokers.push(broker);
    const group = `ack${randomUUID().slice(0, 8)}`;
    await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
    return { broker, group };
  };
  const deliveriesLeft = async (group: string): Promise<number> => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM broker_deliveries WHERE group_name = $1', [group]);
      return rows[0]!.n;
    } finally {
      await client.end();
    }
  };

  it('deletes an acknowledged delivery before its lease ends when nothing else comes, so it is not delivered again', async () => {
    const { broker, group } = await open({ leaseMs: 600 });
    const attempts: number[] = [];
    await broker.subscribe(group, async (delivery: Delivery) => {
      attempts.push(delivery.attempt);
      await delivery.ack();
    });
    await broker.publish([envelope('test.thing-happened', 'alone')]);
    await waitUntil(() => attempts.length === 1, 3_000);
    await waitUntil(async () => (await deliveriesLeft(group)) === 0, 2_000);
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // twice the lease: a surviving delivery would come back
    assert.deepEqual(attempts, [1]);
  });

  it('sends the acknowledgements it holds when the subscription closes', async () => {
    const { broker, group } = await open({ ackDelayMs: 60_000 });
    await broker.publish([envelope('test.thing-happened', 'a')]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let delivered = 0;
    let acked = 0;
    const subscription = await broker.subscribe(group, async (delivery: Delivery) => {
      delivered += 1;
      await gate;
      await delivery.ack();
      acked += 1;
    });
    await waitUntil(() => delivered === 1, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the start-up claims are over: nothing claims again after the ack
    release();
    await waitUntil(() => acked === 1, 3_000);
    assert.equal(await deliveriesLeft(group), 1, 'held for the next claim');
    await subscription.close();
    assert.equal(await deliveriesLeft(group), 0);
  });

  it('takes the next message of a key in the statement that deletes the one before it', async () => {
    const { broker, group } = await open({ ackDelayMs: 60_000 });
    const seen: string[] = [];
    await broker.subscribe(group, async (delivery: Delivery) => {
      seen.push((delivery.message as Envelope).id);
      await delivery.ack();
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the start-up claims are over: the notification brings the first
    const first = envelope('test.thing-happened', 'one-key');
    await broker.publish([first]);
    await waitUntil(() => seen.length === 1, 3_000);
    const second = envelope('test.thing-happened', 'one-key');
    await broker.publish([second]);
    // The first's acknowledgement is held (a minute): only the claim that carries it can take the second.
    await waitUntil(() => seen.length === 2, 3_000);
    assert.deepEqual(seen, [first.id, second.id]);
    assert.equal(await deliveriesLeft(group), 1, 'the second is acknowledged, held for the next claim');
  });
});

/**
 * The claim is one statement run hundreds of times a second; PostgreSQL may keep one
 * plan of it per connection. A plan made while the deliveries table was empty (any
 * subscriber that started idle) scans every delivery once per delivery it looks at:
 * a backlog that builds later is claimed at a cost that grows with its square, until
 * autovacuum next analyzes the table (CI saw a 2,000-message backlog stall for a minute).
 */
describe('embedded broker: a backlog that builds after the subscriber started idle', () => {
  it('is claimed reading about as many deliveries as a backlog the planner knew of, not many times more', async () => {
    const database = await freshDatabase('broker');
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    // What the claims read of the deliveries table (the table is small: any plan reads it whole or by index).
    const rowsRead = async (): Promise<number> => {
      const { rows } = await admin.query<{ n: string }>(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables WHERE relname = 'broker_deliveries'",
      );
      return Number(rows[0]?.n ?? 0);
    };
    /** Waits for the broker's sessions to end: a session's statistics are reported by then. */
    const sessionsGone = async (): Promise<boolean> => {
      const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      return rows[0]!.n === 0;
    };
    const backlog = 1_500;
    /**
     * Drains `backlog` messages with four subscribers (polling together, they keep each
     * of the broker's connections busy) and answers the rows read. `idleFirst`: the
     * tables are analyzed empty and the subscribers claim from them a while, as in a
     * system that started idle; the backlog comes after (autovacuum is off for the whole
     * drain, so the statistics stay those of the empty tables). Otherwise the backlog is
     * there, and analyzed, before anyone claims.
     */
    const drain = async (idleFirst: boolean): Promise<number> => {
      const before = await rowsRead();
      const broker = new EmbeddedBroker(database.url, { pollMs: 20 });
      const group = `g${randomUUID().slice(0, 8)}`;
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      // The statistics stay what ANALYZE below makes them for the whole drain: the state a
      // busy system is in until autovacuum catches up (which made this test pass or fail by luck).
      await admin.query('ALTER TABLE broker_deliveries SET (autovacuum_enabled = false); ALTER TABLE broker_messages SET (autovacuum_enabled = false)');
      const publish = () => broker.publish(Array.from({ length: backlog }, (_, i) => envelope('test.thing-happened', `k${i}`)));
      if (!idleFirst) await publish();
      await admin.query('ANALYZE broker_deliveries, broker_messages');
      let handled = 0;
      for (let i = 0; i < 4; i++) {
        await broker.subscribe(group, async (delivery: Delivery) => {
          handled += 1;
          await delivery.ack();
        });
      }
      if (idleFirst) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        await publish();
      }
      await waitUntil(() => handled === backlog, 120_000);
      await broker.close();
      await waitUntil(sessionsGone, 10_000);
      return (await rowsRead()) - before;
    };
    try {
      // Side by side in one run, so how busy the machine is weighs on both alike: the claims
      // read more the more of them there are, and a loaded machine makes more, smaller ones.
      const afterIdle = await drain(true);
      const known = await drain(false);
      // With statistics of an empty table, a claim that asked "no earlier delivery of this key"
      // with NOT EXISTS ran as an anti-join reading the whole group once per delivery.
      assert.ok(afterIdle < known * 4, `claiming ${backlog} deliveries after an idle start read ${afterIdle} rows; with the backlog known, ${known}`);
    } finally {
      await admin.end();
      await database.drop();
    }
  });
});

/** Each group is woken on a channel of its own: a publication wakes the processes that receive it, not every subscriber. */
describe('embedded broker: wake-up channels', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let broker: EmbeddedBroker;
  const listeners: pg.Client[] = [];
  before(async () => {
    database = await freshDatabase('broker');
    broker = new EmbeddedBroker(database.url, { pollMs: 60_000 });
  });
  after(async () => {
    await Promise.all(listeners.map((client) => client.end()));
    await broker.close();
    await database.drop();
  });
  /** The payloads heard on `channel`, from a connection of the test's own. */
  const hear = async (channel: string): Promise<string[]> => {
    const client = new pg.Client({ connectionString: database.url });
    listeners.push(client);
    await client.connect();
    const heard: string[] = [];
    client.on('notification', (n) => heard.push(n.payload ?? ''));
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    return heard;
  };

  it('notifies the receiving groups on their own channels, and nobody on the shared one', async () => {
    const [receiving, other] = [`wake-a${randomUUID().slice(0, 8)}`, `wake-b${randomUUID().slice(0, 8)}`];
    await broker.declare({ groups: { [receiving]: ['test.thing-happened.v1'], [other]: ['test.other-thing.v1'] } });
    const [onReceiving, onOther, onShared] = await Promise.all([hear(groupChannel(receiving)), hear(groupChannel(other)), hear('bazaar_broker')]);
    await broker.publish([envelope('test.thing-happened', 'k1'), { ...envelope('test.other-thing', 'k2'), destination: receiving }]);
    await waitUntil(() => onReceiving.length > 0, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(onReceiving, [receiving], 'one notification per publication and receiving group');
    assert.deepEqual(onOther, [], 'a group that receives nothing is not woken');
    assert.deepEqual(onShared, []);
  });

  it('wakes a group whose channel name would be too long under a hashed name, and delivers to it', async () => {
    const group = `a-consumer-group-with-a-name-far-longer-than-a-channel-${randomUUID()}`;
    assert.ok(Buffer.byteLength(groupChannel(group)) <= 63);
    assert.notEqual(groupChannel(group), groupChannel(`${group}x`));
    await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
    const heard = await hear(groupChannel(group));
    const seen: string[] = [];
    await broker.subscribe(group, async (delivery: Delivery) => {
      seen.push((delivery.message as Envelope).id);
      await delivery.ack();
    });
    const sent = envelope('test.thing-happened', 'long');
    await broker.publish([sent]);
    // The poll is a minute away: only the notification can bring it this fast.
    await waitUntil(() => seen.length === 1, 3_000);
    assert.deepEqual(seen, [sent.id]);
    assert.deepEqual(heard, [group]);
  });

  it('still wakes on the shared channel that publishers of the earlier release notify', async () => {
    const group = `legacy${randomUUID().slice(0, 8)}`;
    await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
    const seen: string[] = [];
    await broker.subscribe(group, async (delivery: Delivery) => {
      seen.push((delivery.message as Envelope).id);
      await delivery.ack();
    });
    // A delivery row written as the earlier release did, then its NOTIFY on the shared channel.
    const sent = envelope('test.thing-happened', 'legacy');
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        `WITH m AS (INSERT INTO broker_messages (id, message_name, key, body) VALUES ($1, 'test.thing-happened.v1', 'legacy', $2) RETURNING seq)
         INSERT INTO broker_deliveries (group_name, seq, key) SELECT $3, seq, 'legacy' FROM m`,
        [sent.id, JSON.stringify(sent), group],
      );
      await client.query('SELECT pg_notify($1, $2)', ['bazaar_broker', group]);
    } finally {
      await client.end();
    }
    await waitUntil(() => seen.length === 1, 3_000);
  });
});
