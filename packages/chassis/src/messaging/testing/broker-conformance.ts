import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Envelope } from '@bazaar/contracts/messages';
import type { Broker, BrokerOptions, Delivery, Notice } from '../broker.ts';

/**
 * One conformance suite for every broker adapter: whatever the consumer, the
 * outbox relay and the saga rely on is asserted here, against a real backend.
 */
export interface ConformanceTarget {
  /** A new broker instance (as a separate process would have) on the shared backend. */
  connect(options?: BrokerOptions): Promise<Broker>;
  /** Drops what the suite created. */
  cleanup(): Promise<void>;
}

const SHORT_LEASE_MS = 1_000;

export function brokerConformance(name: string, setup: () => Promise<ConformanceTarget>): void {
  describe(`broker conformance: ${name}`, () => {
    let target: ConformanceTarget;
    const brokers: Broker[] = [];
    const connect = async (options?: BrokerOptions): Promise<Broker> => {
      const broker = await target.connect(options);
      brokers.push(broker);
      return broker;
    };

    before(async () => {
      target = await setup();
    });
    after(async () => {
      await Promise.allSettled(brokers.map((b) => b.close()));
      await target.cleanup();
    });

    it('delivers each event once to every subscribed group, and to no other', async () => {
      const run = suffix();
      const broker = await connect();
      await broker.declare({ groups: { [`a${run}`]: ['test.thing-happened.v1'], [`b${run}`]: ['test.thing-happened.v1'], [`c${run}`]: ['test.other-thing.v1'] } });
      const seen = { a: new Collector(), b: new Collector(), c: new Collector() };
      await broker.subscribe(`a${run}`, seen.a.handler());
      await broker.subscribe(`b${run}`, seen.b.handler());
      await broker.subscribe(`c${run}`, seen.c.handler());
      const sent = Array.from({ length: 5 }, (_, i) => envelope('test.thing-happened', `k${i}`));
      await broker.publish(sent);
      await seen.a.waitFor(5);
      await seen.b.waitFor(5);
      await settle();
      assert.deepEqual(seen.a.ids().sort(), sent.map((m) => m.id).sort());
      assert.deepEqual(seen.b.ids().sort(), sent.map((m) => m.id).sort());
      assert.equal(seen.c.count(), 0);
    });

    it('shares a group between subscribers: each message reaches one of them, once', async () => {
      const run = suffix();
      const group = `shared${run}`;
      const first = await connect();
      const second = await connect();
      await first.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const one = new Collector({ delayMs: 10 });
      const two = new Collector({ delayMs: 10 });
      await first.subscribe(group, one.handler(), { concurrency: 2 });
      await second.subscribe(group, two.handler(), { concurrency: 2 });
      const sent = Array.from({ length: 40 }, (_, i) => envelope('test.thing-happened', `key-${i}`));
      await first.publish(sent);
      await waitUntil(() => one.count() + two.count() >= 40);
      await settle();
      const all = [...one.ids(), ...two.ids()].sort();
      assert.deepEqual(all, sent.map((m) => m.id).sort(), 'every message exactly once across the group');
      assert.ok(one.count() > 0 && two.count() > 0, `both subscribers worked (${one.count()} / ${two.count()})`);
    });

    it('sends a command to its destination only, and the reply back to the sender', async () => {
      const run = suffix();
      const broker = await connect();
      const orders = `orders${run}`;
      const payments = `payments${run}`;
      await broker.declare({ groups: { [orders]: ['test.payment-authorized.v1'], [payments]: ['test.authorize-payment.v1'] } });
      const replies = new Collector();
      const bystander = new Collector();
      await broker.subscribe(orders, replies.handler());
      await broker.subscribe(payments, async (delivery) => {
        const command = delivery.message as Envelope;
        await broker.publish([{ ...envelope('test.payment-authorized', command.key), destination: command.replyTo!, causationId: command.id, correlationId: command.correlationId }]);
        await delivery.ack();
      });
      await broker.declare({ groups: { [`bystander${run}`]: ['test.authorize-payment.v1'] } });
      await broker.subscribe(`bystander${run}`, bystander.handler());
      const command = { ...envelope('test.authorize-payment', 'order-1'), destination: payments, replyTo: orders };
      await broker.publish([command]);
      await replies.waitFor(1);
      await settle();
      const reply = replies.messages()[0]!;
      assert.equal(reply.causationId, command.id);
      assert.equal(reply.correlationId, command.correlationId);
      assert.equal(bystander.count(), 0, 'a command is not broadcast');
    });

    it('keeps messages addressed to a group in order per key within their domain; another domain\'s with the same key does not wait', async () => {
      const run = suffix();
      const orders = `orders${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [orders]: ['test.payment-captured.v1', 'catalog.stock-committed.v1', 'test.payment-refunded.v1'] } });
      const seen: string[] = [];
      let releaseFirst: () => void = () => {};
      const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
      await broker.subscribe(
        orders,
        async (delivery) => {
          const message = delivery.message as Envelope;
          seen.push(message.type);
          // The first reply is held until the other domain's has arrived: it must not be queued behind it.
          if (message.type === 'test.payment-captured') await Promise.race([firstHeld, sleep(5_000)]);
          await delivery.ack();
        },
        { concurrency: 8 },
      );
      // On NATS a lane maps to one of the group's partitions, and a partition hands out one message at a time:
      // two lanes that hash to the same partition still wait for each other. 'test order-7' and
      // 'catalog order-7' land on partitions 9 and 0 of 16.
      const addressed = (type: string) => ({ ...envelope(type, 'order-7'), destination: orders });
      await broker.publish([addressed('test.payment-captured'), addressed('test.payment-refunded'), addressed('catalog.stock-committed')]);
      await waitUntil(() => seen.includes('catalog.stock-committed'));
      assert.ok(!seen.includes('test.payment-refunded'), 'the same domain\'s next message waits for the one in hand');
      releaseFirst();
      await waitUntil(() => seen.length === 3);
      assert.deepEqual(seen.filter((type) => type.startsWith('test.')), ['test.payment-captured', 'test.payment-refunded']);
    });

    it('keeps publish order per key, with concurrency and across retries', async () => {
      const run = suffix();
      const group = `ordered${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const keys = ['alpha', 'beta', 'gamma'];
      const sent = Array.from({ length: 30 }, (_, i) => ({ ...envelope('test.thing-happened', keys[i % 3]!), data: { n: Math.floor(i / 3) } }));
      const order = new Map<string, number[]>(keys.map((k) => [k, []]));
      let failedOnce = false;
      await broker.subscribe(
        group,
        async (delivery) => {
          const message = delivery.message as Envelope;
          const n = (message.data as { n: number }).n;
          await sleep(Math.random() * 5);
          // The 3rd message of beta fails once: the ones behind it must wait for it.
          if (message.key === 'beta' && n === 2 && !failedOnce) {
            failedOnce = true;
            await delivery.retry(150);
            return;
          }
          order.get(message.key)!.push(n);
          await delivery.ack();
        },
        { concurrency: 8 },
      );
      for (const batch of chunk(sent, 7)) await broker.publish(batch);
      await waitUntil(() => [...order.values()].every((list) => list.length === 10));
      for (const key of keys) assert.deepEqual(order.get(key), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `order of ${key}`);
      assert.ok(failedOnce);
    });

    it('redelivers after retry with a growing attempt count', async () => {
      const run = suffix();
      const group = `retry${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const attempts: number[] = [];
      const times: number[] = [];
      await broker.subscribe(group, async (delivery) => {
        attempts.push(delivery.attempt);
        times.push(Date.now());
        if (delivery.attempt < 3) await delivery.retry(200);
        else await delivery.ack();
      });
      await broker.publish([envelope('test.thing-happened', 'k')]);
      await waitUntil(() => attempts.length >= 3);
      await settle();
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.ok(times[1]! - times[0]! >= 150, `retry waited ${times[1]! - times[0]!} ms`);
    });

    it('hands a delivery whose subscriber went silent to another after the lease', async () => {
      const run = suffix();
      const group = `lease${run}`;
      const dying = await connect({ leaseMs: SHORT_LEASE_MS });
      const healthy = await connect({ leaseMs: SHORT_LEASE_MS });
      await dying.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      let release!: () => void;
      const hung = new Promise<void>((resolve) => (release = resolve));
      let tookIt = false;
      const silent = await dying.subscribe(group, async () => {
        tookIt = true;
        await hung; // never settles: as if the process had been killed mid-handler
      });
      await dying.publish([envelope('test.thing-happened', 'k')]);
      await waitUntil(() => tookIt);
      const rescued = new Collector();
      await healthy.subscribe(group, rescued.handler());
      const started = Date.now();
      await rescued.waitFor(1, 15_000);
      assert.ok(Date.now() - started >= SHORT_LEASE_MS / 2, 'not before the lease ran out');
      assert.equal(rescued.attempts()[0], 2);
      release();
      await silent.close();
    });

    it('renews a lease on extend, so a slow handler keeps its message', async () => {
      const run = suffix();
      const group = `extend${run}`;
      const slow = await connect({ leaseMs: SHORT_LEASE_MS });
      const other = await connect({ leaseMs: SHORT_LEASE_MS });
      await slow.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      let handled = 0;
      await slow.subscribe(group, async (delivery) => {
        for (let i = 0; i < 5; i += 1) {
          await sleep(SHORT_LEASE_MS / 2);
          await delivery.extend();
        }
        handled += 1;
        await delivery.ack();
      });
      const stolen = new Collector();
      await slow.publish([envelope('test.thing-happened', 'k')]);
      await other.subscribe(group, stolen.handler());
      await waitUntil(() => handled === 1, 10_000);
      await settle();
      assert.equal(stolen.count(), 0, 'no second delivery while the lease was renewed');
    });

    it('de-duplicates a message published twice with the same id', async () => {
      const run = suffix();
      const group = `dedupe${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const seen = new Collector();
      await broker.subscribe(group, seen.handler());
      const message = envelope('test.thing-happened', 'k');
      await broker.publish([message]);
      await broker.publish([message]);
      await broker.publish([envelope('test.thing-happened', 'k')]);
      await seen.waitFor(2);
      await settle();
      assert.equal(seen.count(), 2);
    });

    it('keeps events published before a declared group first subscribes', async () => {
      const run = suffix();
      const group = `late${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const sent = [envelope('test.thing-happened', 'k1'), envelope('test.thing-happened', 'k2')];
      await broker.publish(sent);
      const seen = new Collector();
      const late = await connect();
      await late.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      await late.subscribe(group, seen.handler());
      await seen.waitFor(2);
      assert.deepEqual(seen.ids().sort(), sent.map((m) => m.id).sort());
    });

    it('stops delivering to a closed subscription and lets in-flight work finish', async () => {
      const run = suffix();
      const group = `close${run}`;
      const broker = await connect();
      await broker.declare({ groups: { [group]: ['test.thing-happened.v1'] } });
      const seen = new Collector({ delayMs: 200 });
      const subscription = await broker.subscribe(group, seen.handler());
      await broker.publish([envelope('test.thing-happened', 'k1')]);
      await waitUntil(() => seen.started > 0);
      await subscription.close();
      assert.equal(seen.count(), 1, 'the in-flight message finished before close resolved');
      await broker.publish([envelope('test.thing-happened', 'k2')]);
      await settle();
      assert.equal(seen.count(), 1);
      const next = new Collector();
      await broker.subscribe(group, next.handler());
      await next.waitFor(1);
    });

    it('notices every listening process of a published event, with its name, key and id', async () => {
      const run = suffix();
      const type = `test.noticed-${run}`;
      const name = `${type}.v1`;
      const publisher = await connect();
      const listeners = [new Notices(), new Notices()];
      const closers = [];
      for (const listener of listeners) closers.push(await (await connect()).listen([name], listener.hear()));
      const sent = [envelope(type, 'p1'), envelope(type, 'p2'), envelope(type, 'p1')];
      await publisher.publish(sent);
      for (const listener of listeners) {
        await listener.waitFor(3);
        assert.deepEqual(
          listener.notices.map((n) => ({ ...n })).sort(byId),
          sent.map((m) => ({ name, key: m.key, id: m.id })).sort(byId),
        );
      }
      await Promise.all(closers.map((c) => c.close()));
    });

    it('notices only the names listened to, and only events', async () => {
      const run = suffix();
      const [heard, other] = [`test.heard-${run}`, `test.unheard-${run}`];
      const broker = await connect();
      // A group consumes the same names: a notice takes nothing from it.
      const group = `noticed${run}`;
      await broker.declare({ groups: { [group]: [`${heard}.v1`] } });
      const consumed = new Collector();
      await broker.subscribe(group, consumed.handler());
      const notices = new Notices();
      const listening = await (await connect()).listen([`${heard}.v1`], notices.hear());
      await broker.publish([envelope(other, 'k1'), { ...envelope(heard, 'k2'), destination: `somebody${run}` }]);
      const event = envelope(heard, 'k3');
      await broker.publish([event]);
      await notices.waitFor(1);
      await consumed.waitFor(1);
      await settle();
      assert.deepEqual(notices.notices.map((n) => n.id), [event.id], 'neither another name nor a command');
      assert.deepEqual(consumed.ids(), [event.id], 'the group still gets the event');
      await listening.close();
    });

    it('notices what is published from listen on, and nothing after close', async () => {
      const run = suffix();
      const type = `test.timed-${run}`;
      const broker = await connect();
      const early = envelope(type, 'k');
      await broker.publish([early]);
      const notices = new Notices();
      const listening = await (await connect()).listen([`${type}.v1`], notices.hear());
      const onTime = envelope(type, 'k');
      await broker.publish([onTime]);
      await notices.waitFor(1);
      await listening.close();
      await broker.publish([envelope(type, 'k')]);
      await settle();
      assert.deepEqual(notices.notices.map((n) => n.id), [onTime.id], 'no replay, and silence after close');
    });

    it('keeps notifying the others when one listener throws', async () => {
      const run = suffix();
      const name = `test.thrown-${run}.v1`;
      const broker = await connect();
      const notices = new Notices();
      let thrown = 0;
      await broker.listen([name], () => {
        thrown += 1;
        throw new Error('a listener bug');
      });
      await (await connect()).listen([name], notices.hear());
      await broker.publish([envelope(`test.thrown-${run}`, 'k1')]);
      await broker.publish([envelope(`test.thrown-${run}`, 'k2')]);
      await notices.waitFor(2);
      await waitUntil(() => thrown === 2);
    });

    it('answers ping while the backend is up', async () => {
      const broker = await connect();
      await broker.ping();
    });
  });
}

export function envelope(type: string, key: string): Envelope {
  return { id: randomUUID(), type, version: 1, time: new Date().toISOString(), key, correlationId: randomUUID(), causationId: null, data: { key } };
}

export class Collector {
  private readonly received: { message: Envelope; attempt: number }[] = [];
  started = 0;
  private readonly options: { delayMs?: number };
  constructor(options: { delayMs?: number } = {}) {
    this.options = options;
  }

  handler() {
    return async (delivery: Delivery): Promise<void> => {
      this.started += 1;
      if (this.options.delayMs) await sleep(this.options.delayMs);
      this.received.push({ message: delivery.message as Envelope, attempt: delivery.attempt });
      await delivery.ack();
    };
  }
  count(): number {
    return this.received.length;
  }
  ids(): string[] {
    return this.received.map((r) => r.message.id);
  }
  messages(): Envelope[] {
    return this.received.map((r) => r.message);
  }
  attempts(): number[] {
    return this.received.map((r) => r.attempt);
  }
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    return waitUntil(() => this.received.length >= n, timeoutMs);
  }
}

class Notices {
  readonly notices: Notice[] = [];
  hear() {
    return (notice: Notice): void => {
      this.notices.push(notice);
    };
  }
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    return waitUntil(() => this.notices.length >= n, timeoutMs);
  }
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id.localeCompare(b.id);
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Long enough for a stray duplicate delivery to show up. */
function settle(): Promise<void> {
  return sleep(300);
}

function suffix(): string {
  return randomUUID().slice(0, 8);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
