import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { atCommit, migrate, sqlLiteral } from './database.ts';

const drops: Array<() => Promise<void>> = [];
after(async () => {
  for (const drop of drops) await drop();
});

async function migrationsDir(files: Record<string, string>): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return pathToFileURL(`${dir}/`);
}

describe('SQL migrations', () => {
  it('apply in file-name order, once, recording each', async () => {
    const { db, drop } = await freshDatabase('migrate');
    drops.push(drop);
    const dir = await migrationsDir({
      '0002_add_column.sql': 'ALTER TABLE things ADD COLUMN colour text;',
      '0001_create.sql': 'CREATE TABLE things (id int PRIMARY KEY);',
      'notes.txt': 'not a migration',
    });
    assert.deepEqual(await migrate(db, dir), ['0001_create.sql', '0002_add_column.sql']);
    assert.deepEqual(await migrate(db, dir), [], 'a second run applies nothing');
    const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(rows.map((r) => r.version), ['0001_create.sql', '0002_add_column.sql']);
  });

  it('refuse an applied migration whose file changed', async () => {
    const { db, drop } = await freshDatabase('migrate_changed');
    drops.push(drop);
    await migrate(db, await migrationsDir({ '0001_create.sql': 'CREATE TABLE t (id int);' }));
    await assert.rejects(migrate(db, await migrationsDir({ '0001_create.sql': 'CREATE TABLE t (id bigint);' })), /was changed after it was applied/);
  });

  it('roll a failing migration back whole and stop there', async () => {
    const { db, drop } = await freshDatabase('migrate_failing');
    drops.push(drop);
    const dir = await migrationsDir({
      '0001_ok.sql': 'CREATE TABLE a (id int);',
      '0002_broken.sql': 'CREATE TABLE b (id int); SELECT * FROM no_such_table;',
      '0003_later.sql': 'CREATE TABLE c (id int);',
    });
    await assert.rejects(migrate(db, dir), /0002_broken\.sql failed/);
    const { rows } = await db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    assert.deepEqual(rows.map((r) => r.name), ['a', 'schema_migrations']);
  });

  it('let replicas starting together apply each migration exactly once', async () => {
    const { db, drop } = await freshDatabase('migrate_race');
    drops.push(drop);
    const dir = await migrationsDir({ '0001_create.sql': 'CREATE TABLE things (id int);', '0002_seed.sql': 'INSERT INTO things VALUES (1);' });
    const results = await Promise.all([migrate(db, dir), migrate(db, dir), migrate(db, dir)]);
    assert.equal(results.flat().length, 2);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM things');
    assert.equal(rows[0]!.n, 1);
  });
});

describe('transactions', () => {
  it('send a prelude with the BEGIN and deferred statements with the COMMIT, and keep neither on rollback', async () => {
    const { db, drop } = await freshDatabase('tx_round_trips');
    drops.push(drop);
    await db.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
    const body = "it's a \\ back'slash";
    const seen = await db.transaction(
      async (tx, prelude) => {
        assert.equal(atCommit(tx, () => `INSERT INTO notes (body) VALUES (${sqlLiteral(body)})`), true);
        const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM notes');
        assert.equal(rows[0]!.n, 1, 'the deferred statement has not run yet; the prelude has');
        return prelude;
      },
      { prelude: `INSERT INTO notes (body) VALUES ('first') RETURNING body`, lockTimeoutMs: 100 },
    );
    assert.deepEqual(seen, [{ body: 'first' }]);
    const { rows } = await db.query<{ body: string }>('SELECT body FROM notes ORDER BY id');
    assert.deepEqual(rows.map((r) => r.body), ['first', body]);

    await assert.rejects(
      db.transaction(async (tx) => {
        atCommit(tx, () => "INSERT INTO notes (body) VALUES ('never')");
        throw new Error('changed my mind');
      }, { prelude: "INSERT INTO notes (body) VALUES ('never either')" }),
      /changed my mind/,
    );
    await assert.rejects(db.transaction(async (tx) => void atCommit(tx, () => 'INSERT INTO notes (body) VALUES (NULL)')), /null value/);
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM notes')).rows[0]!.n, 2, 'nothing of a failed transaction is kept');
    assert.equal(atCommit(db, () => 'SELECT 1'), false, 'the pool has no commit to defer to');
  });
});
