import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { migrate } from '@bazaar/chassis';
import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { notificationsService } from '../app.ts';

const migrations = notificationsService.migrations!;
const cleanups: Array<() => Promise<void>> = [];
after(() => Promise.all(cleanups.map((cleanup) => cleanup())));

describe('migration 0002 on a database with notifications already', () => {
  it('gives every existing notification a dedupe key, a recipient one welcome', async () => {
    const { db, drop } = await freshDatabase('notifications_migration');
    const firstOnly = await mkdtemp(join(tmpdir(), 'notifications-0001-'));
    cleanups.push(drop, () => rm(firstOnly, { recursive: true, force: true }));
    await copyFile(fileURLToPath(new URL('0001_notifications.sql', migrations)), join(firstOnly, '0001_notifications.sql'));
    await migrate(db, firstOnly);

    // Before 0002: the same registration published twice under two ids made two welcomes.
    const recipient = randomUUID();
    const insert = async (kind: string, createdAt: string) => {
      const { rows } = await db.query<{ id: string; source_message_id: string }>(
        `INSERT INTO notifications (id, recipient_id, channel, kind, subject, body, source_message_id, created_at)
         VALUES ($1, $2, 'inbox', $3, 'Hello', 'Hello.', $4, $5) RETURNING id, source_message_id`,
        [randomUUID(), recipient, kind, randomUUID(), createdAt],
      );
      return rows[0]!;
    };
    const first = await insert('welcome', '2024-01-01T00:00:00Z');
    const second = await insert('welcome', '2024-01-02T00:00:00Z');
    const other = await insert('order-placed', '2024-01-03T00:00:00Z');

    assert.deepEqual(await migrate(db, migrations), ['0002_checkout_and_email.sql']);
    const { rows } = await db.query<{ id: string; dedupe_key: string; channel: string; delivery_status: string | null }>(
      'SELECT id, dedupe_key, channel, delivery_status FROM notifications ORDER BY created_at',
    );
    assert.deepEqual(rows, [
      { id: first.id, dedupe_key: `welcome:${recipient}`, channel: 'inbox', delivery_status: null },
      { id: second.id, dedupe_key: `welcome:${second.source_message_id}`, channel: 'inbox', delivery_status: null },
      { id: other.id, dedupe_key: `order-placed:${other.source_message_id}`, channel: 'inbox', delivery_status: null },
    ]);
  });
});
