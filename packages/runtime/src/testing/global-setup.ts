/**
 * node:test global setup for integration and end-to-end tests: one real
 * PostgreSQL for the whole run. `TEST_DATABASE_URL` (a superuser URL) points the
 * tests at an existing server instead; otherwise an embedded cluster is started in
 * a temporary folder and removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '../embedded-postgres.ts';

let running: RunningPostgres | undefined;
let stateDir: string | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env['TEST_DATABASE_URL']) return;
  stateDir = await mkdtemp(join(tmpdir(), 'bazaar-test-'));
  running = await startEmbeddedPostgres({ stateDir, preferredPort: 0 });
  process.env['TEST_DATABASE_URL'] = running.adminUrl;
  process.env['TEST_STATE_DIR'] = stateDir;
}

export async function globalTeardown(): Promise<void> {
  await running?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
}
