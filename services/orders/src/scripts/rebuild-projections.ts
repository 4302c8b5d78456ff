/**
 * npm run orders:rebuild-projections [-- --state DIR]
 *
 * Empties orders' read models (order list, order detail) and projects them again
 * from the event streams. Safe while orders runs: the rebuild holds the read
 * models' lock, so writers wait for it and then carry on from the rebuilt rows.
 * The database: ORDERS_DATABASE_URL, else the `npm start` running on the state folder.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Database } from '@bazaar/chassis';
import { readRuntimeFile } from '@bazaar/runtime/runtime-file';
import { OrderEventStore } from '../persistence/order-event-store.ts';
import { OrderProjections } from '../persistence/order-projections.ts';

const { values: flags } = parseArgs({
  options: { state: { type: 'string', default: process.env['BAZAAR_STATE_DIR'] ?? resolve(fileURLToPath(new URL('../../../../.bazaar', import.meta.url))) } },
});

const url = process.env['ORDERS_DATABASE_URL'] ?? (await readRuntimeFile(flags.state!))?.databases.orders;
if (!url) {
  process.stderr.write(`orders:rebuild-projections: set ORDERS_DATABASE_URL, or start the system (npm start) on ${flags.state}\n`);
  process.exit(2);
}
const db = new Database({ connectionString: url, applicationName: 'orders-rebuild-projections', statementTimeoutMs: 0 });
try {
  const started = Date.now();
  const count = await new OrderProjections().rebuild(db, new OrderEventStore().allOrders(db));
  process.stdout.write(`rebuilt the read models of ${count} orders in ${Date.now() - started} ms\n`);
} finally {
  await db.close();
}
