import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { createDatabaseIfMissing, databaseUrl, Outbox } from '@bazaar/chassis';
import { freshDatabase, testServerUrl } from '@bazaar/runtime/testing/databases';
import { eventually } from '@bazaar/runtime/testing/eventually';

/**
 * Faults with real processes, real PostgreSQL and a real broker, on both adapters:
 * SIGKILL the relay mid-batch and the consumer mid-handler, and a broker that is
 * gone for 10 s while writes keep coming. Afterwards every message has taken
 * effect exactly once (the effects table has no unique constraint: only the
 * outbox, the broker's redelivery and the inbox make that true).
 */

const FIXTURE = new URL('./fixtures/messaging-node.ts', import.meta.url).pathname;
const EFFECTS = new URL('../packages/chassis/src/messaging/testing/migrations/', import.meta.url);
const NAME = 'identity.user-registered.v1';
const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const outbox = new Outbox('identity', [NAME]);

interface Setup {
  db: Awaited<ReturnType<typeof freshDatabase>>;
  brokerUrl: string;
  prefix: string;
  brokerDatabase?: string;
}

const children = new Set<ChildProcess>();
/** Each child's role and what it wrote to stderr, for the message of a test that times out. */
const childLogs = new Map<ChildProcess, { role: string; stderr: string }>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function startNode(setup: Setup, role: 'relay' | 'consumer', extra: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ROLE: role, DATABASE_URL: setup.db.url, BROKER_URL: setup.brokerUrl, BROKER_PREFIX: setup.prefix, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const log = { role, stderr: '' };
  childLogs.set(child, log);
  child.once('exit', () => children.delete(child));
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
    log.stderr = (log.stderr + chunk.toString()).slice(-2_000);
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code} before ready: ${errors}`)));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function write(setup: Setup, count: number, perTransaction = 100): Promise<void> {
  for (let done = 0; done < count; done += perTransaction) {
    await setup.db.db.transaction(async (tx) => {
      const batch = Math.min(perTransaction, count - done);
      const envelopes = Array.from({ length: batch }, () => {
        const userId = randomUUID();
        return outbox.envelope(NAME, { userId, email: `u${userId.slice(0, 8)}@example.com`, name: 'Fault', registeredAt: new Date().toISOString() }, { key: userId });
      });
      await outbox.insert(tx, envelopes);
    });
  }
}

async function counts(setup: Setup): Promise<{ total: number; distinct: number; published: number; unpublished: number }> {
  const { rows } = await setup.db.db.query<{ total: number; distinct: number; published: number; unpublished: number }>(
    `SELECT (SELECT count(*)::int FROM effects) AS total, (SELECT count(DISTINCT message_id)::int FROM effects) AS distinct,
            (SELECT count(*)::int FROM outbox WHERE published_at IS NOT NULL) AS published,
            (SELECT count(*)::int FROM outbox WHERE published_at IS NULL) AS unpublished`,
  );
  return rows[0]!;
}

/** Reads until `done`, naming the last reading if it never gets there (and, given `setup`, the state of the broker and the processes). */
async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: string, setup?: Setup): Promise<T> {
  let last: T | undefined;
  try {
    return await eventually(async () => (done((last = await read())) ? last : undefined), () => `${what} (last: ${JSON.stringify(last)})`, timeoutMs);
  } catch (error) {
    if (!setup) throw error;
    throw new Error(`${(error as Error).message}\n${await diagnose(setup).catch((e: unknown) => `(no diagnosis: ${String(e)})`)}`, { cause: error });
  }
}

/** What a stalled pipeline looked like: the embedded broker's deliveries, and each child process that is still running or died, with its stderr. */
async function diagnose(setup: Setup): Promise<string> {
  const lines: string[] = [];
  if (setup.brokerDatabase) {
    const client = new pg.Client({ connectionString: databaseUrl(testServerUrl(), setup.brokerDatabase) });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT (SELECT count(*)::int FROM broker_messages) AS messages, count(*)::int AS deliveries,
                count(*) FILTER (WHERE leased_until >= now())::int AS leased, count(*) FILTER (WHERE available_at > now())::int AS delayed,
                max(attempts) AS max_attempts, min(seq)::text AS first_seq
         FROM broker_deliveries`,
      );
      const { rows: sessions } = await client.query(
        `SELECT application_name, state, wait_event_type, wait_event, left(query, 80) AS query, now() - query_start AS running
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      lines.push(`broker: ${JSON.stringify(rows[0])}`, ...sessions.map((row) => `session: ${JSON.stringify(row)}`));
    } finally {
      await client.end();
    }
  }
  for (const [child, log] of childLogs) {
    if (child.exitCode === null && child.signalCode === null) lines.push(`${log.role} ${child.pid}: running; stderr: ${log.stderr || '(none)'}`);
    else if (child.signalCode !== 'SIGKILL') lines.push(`${log.role} ${child.pid}: exited ${child.exitCode ?? child.signalCode}; stderr: ${log.stderr}`);
  }
  return lines.join('\n');
}

async function embeddedBroker(): Promise<{ url: string; name: string }> {
  const name = `t_fault_broker_${randomUUID().slice(0, 8)}`;
  await createDatabaseIfMissing(testServerUrl(), name);
  return { url: databaseUrl(testServerUrl(), name), name };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

for (const adapter of ['embedded', 'nats'] as const) {
  describe(`faults, ${adapter} broker`, () => {
    let setup: Setup;

    beforeEach(async () => {
      const db = await freshDatabase('faults', EFFECTS);
      if (adapter === 'embedded') {
        const broker = await embeddedBroker();
        setup = { db, brokerUrl: broker.url, prefix: '', brokerDatabase: broker.name };
      } else {
        setup = { db, brokerUrl: NATS_URL, prefix: `f${randomUUID().slice(0, 8)}` };
      }
    });
    afterEach(async () => {
      for (const child of children) await kill(child);
      childLogs.clear();
      await setup.db.drop();
      if (setup.brokerDatabase) await adminQuery(`DROP DATABASE IF EXISTS "${setup.brokerDatabase}" WITH (FORCE)`);
      if (adapter === 'nats') {
        const { NatsBroker } = await import('@bazaar/chassis');
        const admin = new NatsBroker(NATS_URL, { prefix: setup.prefix });
        await admin.deleteStreams().finally(() => admin.close());
      }
    });

    it('loses nothing and applies nothing twice when the relay is SIGKILLed mid-batch', async () => {
      const total = 2_000;
      await write(setup, total);
      await startNode(setup, 'consumer');
      const relay = await startNode(setup, 'relay', { RELAY_BATCH: '200' });
      await waitFor(() => counts(setup), (c) => c.published >= 300, 30_000, 'relay published 300');
      await kill(relay);
      const atKill = await counts(setup);
      assert.ok(atKill.published < total, `killed before the end (${atKill.published} of ${total} published)`);
      await startNode(setup, 'relay', { RELAY_BATCH: '200' });
      const final = await waitFor(() => counts(setup), (c) => c.total >= total && c.unpublished === 0, 60_000, 'every message handled', setup);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // room for a stray duplicate to show
      assert.deepEqual(await counts(setup), { ...final, total, distinct: total, published: total, unpublished: 0 });
    });

    it('loses nothing and applies nothing twice when the consumer is SIGKILLed mid-handler', async () => {
      const total = 300;
      await write(setup, total);
      await startNode(setup, 'relay');
      const consumer = await startNode(setup, 'consumer', { HANDLER_DELAY_MS: '40', MESSAGE_LEASE_MS: '1500' });
      await waitFor(() => counts(setup), (c) => c.total >= 40, 30_000, 'consumer handled 40');
      await kill(consumer);
      const atKill = await counts(setup);
      assert.ok(atKill.total < total, `killed before the end (${atKill.total} of ${total} handled)`);
      await startNode(setup, 'consumer', { HANDLER_DELAY_MS: '5', MESSAGE_LEASE_MS: '1500' });
      await waitFor(() => counts(setup), (c) => c.total >= total, 60_000, 'every message handled', setup);
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // past a lease: a stray redelivery would show
      const final = await counts(setup);
      assert.equal(final.total, total, 'no effect applied twice');
      assert.equal(final.distinct, total, 'no message lost');
    });

    it('keeps accepting writes while the broker is gone for 10 s, then delivers every buffered message once', { timeout: 90_000 }, async () => {
      let nats: PrivateNats | undefined;
      if (adapter === 'nats') {
        nats = await PrivateNats.start();
        setup.brokerUrl = nats.url;
      }
      try {
        await startNode(setup, 'relay');
        await startNode(setup, 'consumer');
        let written = 0;
        const writes: Promise<void>[] = [];
        const writer = setInterval(() => {
          writes.push(write(setup, 2, 2).then(() => void (written += 2)));
        }, 100);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const cut = async () => {
          if (nats) await nats.stop();
          else {
            await adminQuery(`ALTER DATABASE "${setup.brokerDatabase}" ALLOW_CONNECTIONS false`);
            await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${setup.brokerDatabase}'`);
          }
        };
        const restore = async () => {
          if (nats) await nats.restart();
          else await adminQuery(`ALTER DATABASE "${setup.brokerDatabase}" ALLOW_CONNECTIONS true`);
        };
        await cut();
        const writtenAtCut = written;
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        const during = await counts(setup);
        await restore();
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        clearInterval(writer);
        await Promise.all(writes); // every write of the outage committed: none rejected
        assert.ok(written - writtenAtCut >= 150, `writes kept succeeding during the outage (${written - writtenAtCut})`);
        assert.ok(during.unpublished > 0, 'the outbox buffered while the broker was gone');
        const final = await waitFor(() => counts(setup), (c) => c.total >= written && c.unpublished === 0, 60_000, 'every buffered message delivered', setup);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        assert.deepEqual(await counts(setup), { ...final, total: written, distinct: written, published: written, unpublished: 0 });
      } finally {
        await nats?.stop();
        await nats?.cleanup();
      }
    });
  });
}

/** A NATS server of this test's own (the one on :4222 is shared), stopped and restarted on the same store. */
class PrivateNats {
  private process: ChildProcess | undefined;
  private readonly port: number;
  private readonly storeDir: string;
  constructor(port: number, storeDir: string) {
    this.port = port;
    this.storeDir = storeDir;
  }
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  static async start(): Promise<PrivateNats> {
    const port = await freePort();
    const nats = new PrivateNats(port, await mkdtemp(join(tmpdir(), 'bazaar-nats-')));
    await nats.restart();
    return nats;
  }
  async restart(): Promise<void> {
    const binary = process.env['NATS_SERVER_BIN'] ?? 'nats-server';
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let text = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('Server is ready')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${text}`)));
    });
  }
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  async cleanup(): Promise<void> {
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
