import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Database, MESSAGING_MIGRATIONS, createDatabaseIfMissing, databaseUrl, migrate } from '@bazaar/chassis';

/** Superuser URL of the test PostgreSQL (see global-setup.ts). */
export function testServerUrl(): string {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run integration tests through `npm test` (its global setup starts PostgreSQL)');
  return url;
}

/**
 * A fresh, empty database for one test file, migrated with `migrations` (and the chassis's messaging tables) when given,
 * dropped by `drop()` (call it from a top-level `after`). Tests never share state through a database.
 */
export async function freshDatabase(label: string, migrations?: URL): Promise<{ db: Database; url: string; drop: () => Promise<void> }> {
  const name = `t_${label}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const server = testServerUrl();
  await createDatabaseIfMissing(server, name);
  const url = databaseUrl(server, name);
  const db = new Database({ connectionString: url, applicationName: `test-${label}` });
  if (migrations) {
    // As runService does for a messaging service: the chassis's outbox/inbox/dead-letter tables first.
    await migrate(db, MESSAGING_MIGRATIONS, { namespace: 'messaging' });
    await migrate(db, migrations);
  }
  const drop = async () => {
    await db.close();
    await dropDatabase(server, name);
  };
  return { db, url, drop };
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
