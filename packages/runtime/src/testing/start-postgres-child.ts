/**
 * Child process of embedded-postgres.int.test.ts, run as whichever OS user the test
 * picks: starts the embedded PostgreSQL of `<stateDir>`, records this run in it,
 * prints one JSON line, then stops it — or, with `hold`, leaves it running and waits
 * to be killed.
 *
 *   node start-postgres-child.ts <stateDir> [stop|hold]
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../embedded-postgres.ts';

export interface ChildReport {
  uid: number;
  pid: number;
  postmasterPid: number;
  postmasterUid: number;
  currentUser: string;
  version: string;
  systemIdentifier: string;
  /** Child pids of every run recorded in the cluster, oldest first. */
  runs: number[];
  /** The launcher's own log lines (not PostgreSQL's). */
  launcherLog: string[];
}

const [stateDir, mode = 'stop'] = process.argv.slice(2);
if (!stateDir || !['stop', 'hold'].includes(mode)) throw new Error('usage: start-postgres-child.ts <stateDir> [stop|hold]');

const logs: string[] = [];
const running = await startEmbeddedPostgres({ stateDir, preferredPort: 0, onLog: (line) => logs.push(line) });
const postmasterPid = Number.parseInt((await readFile(join(running.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
const client = new pg.Client({ connectionString: running.adminUrl });
await client.connect();
try {
  const who = await client.query<{ current_user: string; version: string }>('SELECT current_user, version()');
  const control = await client.query<{ system_identifier: string }>('SELECT system_identifier::text FROM pg_control_system()');
  await client.query('CREATE TABLE IF NOT EXISTS runs (n serial PRIMARY KEY, pid integer NOT NULL)');
  await client.query('INSERT INTO runs (pid) VALUES ($1)', [process.pid]);
  const runs = await client.query<{ pid: number }>('SELECT pid FROM runs ORDER BY n');
  const report: ChildReport = {
    uid: process.getuid?.() ?? -1,
    pid: process.pid,
    postmasterPid,
    postmasterUid: (await stat(`/proc/${postmasterPid}`)).uid,
    currentUser: who.rows[0]!.current_user,
    version: who.rows[0]!.version,
    systemIdentifier: control.rows[0]!.system_identifier,
    runs: runs.rows.map((row) => row.pid),
    launcherLog: logs.filter((line) => /^(initialising|stopping) /.test(line)),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await client.end();
}

if (mode === 'hold') setInterval(() => {}, 60_000);
else await running.stop();
