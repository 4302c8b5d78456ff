import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freshDatabase } from '../../../runtime/src/testing/databases.ts';
import type { Notice } from './broker.ts';
import { EmbeddedBroker } from './embedded-broker.ts';
import { NatsBroker } from './nats-broker.ts';
import { envelope, waitUntil } from './testing/broker-conformance.ts';
import { testNatsUrl } from '../testing/nats.ts';
import { TcpProxy } from '../testing/tcp-proxy.ts';

/**
 * What the conformance suite cannot do on every backend alike: lose a
 * listener's connection. Notices published meanwhile are lost (best-effort);
 * the listener is told (`onGap`) and hears again once reconnected.
 */
const natsUrl = testNatsUrl();

describe('listen on the embedded broker across a lost connection', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    database = await freshDatabase('brokerlisten');
  });
  after(async () => {
    await database.drop();
  });

  it('reconnects, reports the gap, and hears again', async () => {
    const name = `listen-${randomUUID().slice(0, 8)}`;
    const publisher = new EmbeddedBroker(database.url, { connectionName: `${name}-publisher` });
    const listener = new EmbeddedBroker(database.url, { connectionName: name });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const heard: Notice[] = [];
      let gaps = 0;
      await listener.listen(['test.gapped.v1'], (notice) => heard.push(notice), { onGap: () => (gaps += 1) });
      await publisher.publish([envelope('test.gapped', 'before')]);
      await waitUntil(() => heard.length === 1);
      assert.equal(gaps, 0, 'no gap on the first connection');

      // The server drops the LISTEN connection (a restart, a failover, an idle-connection reaper).
      const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`${name}-notices`]);
      assert.equal(rowCount, 1, 'one LISTEN connection, named after the broker');
      await waitUntil(() => gaps === 1);
      const after = envelope('test.gapped', 'after');
      await publisher.publish([after]);
      await waitUntil(() => heard.length === 2);
      assert.equal(heard[1]!.id, after.id);
      assert.equal(gaps, 1);
    } finally {
      await admin.end();
      await Promise.all([publisher.close(), listener.close()]);
    }
  });

  it('resolves while the database is unreachable, and starts hearing once it is there', async () => {
    const proxy = await TcpProxy.start(new URL(database.url));
    proxy.cut();
    const through = new URL(database.url);
    through.port = String(proxy.port);
    const listener = new EmbeddedBroker(through.toString());
    const publisher = new EmbeddedBroker(database.url);
    try {
      const heard: Notice[] = [];
      let gaps = 0;
      const started = performance.now();
      await listener.listen(['test.late.v1'], (notice) => heard.push(notice), { onGap: () => (gaps += 1) });
      assert.ok(performance.now() - started < 2_000, 'best-effort: listen does not wait for the database');
      await proxy.restore();
      await waitUntil(() => gaps === 1, 10_000);
      const event = envelope('test.late', 'k');
      await publisher.publish([event]);
      await waitUntil(() => heard.length === 1);
      assert.equal(heard[0]!.id, event.id);
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
      proxy.cut();
    }
  });
});

describe('listen on NATS across a lost connection', () => {
  it('reconnects, reports the gap once its subscriptions are back in place, and hears again', async () => {
    const prefix = `listen_${randomUUID().slice(0, 8)}`;
    const proxy = await TcpProxy.start(new URL(natsUrl));
    const publisher = new NatsBroker(natsUrl, { prefix, connectionName: 'listen-test-publisher' });
    const listener = new NatsBroker(`nats://127.0.0.1:${proxy.port}`, { prefix, connectionName: 'listen-test' });
    try {
      const heard: Notice[] = [];
      let gaps = 0;
      await listener.listen(['test.gapped.v1'], (notice) => heard.push(notice), { onGap: () => (gaps += 1) });
      await publisher.publish([envelope('test.gapped', 'before')]);
      await waitUntil(() => heard.length === 1);
      assert.equal(gaps, 0, 'no gap on the first connection');

      // What the listener sends on its new connection (its subscriptions again) reaches
      // the server late: the gap must not be reported before they are in place, or what
      // is published at once after it is lost.
      proxy.delayToServer(300);
      proxy.dropConnections();
      await waitUntil(() => gaps === 1, 15_000);
      const after = envelope('test.gapped', 'after');
      await publisher.publish([after]);
      await waitUntil(() => heard.length === 2);
      assert.equal(heard[1]!.id, after.id, 'the subscription came back with the connection');
      assert.deepEqual(
        heard.map((n) => n.name),
        ['test.gapped.v1', 'test.gapped.v1'],
      );
    } finally {
      await listener.close();
      await publisher.deleteStreams().catch(() => {});
      await publisher.close();
      proxy.cut();
    }
  });
});
