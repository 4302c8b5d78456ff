/**
 * What a checkout costs, read from outside the processes: CPU time from /proc,
 * commits from pg_stat_database, messages from each service's outbox sequence.
 */
import pg from 'pg';
import { ticks } from '../proc.ts';

/**
 * The processes whose CPU time is a checkout's, by role: a role maps to the pids that count for
 * it now (re-read at every snapshot, since PostgreSQL backends come and go). A backend that
 * exits between two snapshots takes its ticks with it; the pools keep theirs open.
 */
export type ProcessMap = () => Record<string, number[]>;

export interface CpuSnapshot {
  at: number;
  /** Ticks per role, and per pid so a process that started since counts from zero. */
  byPid: Map<number, number>;
  roles: Record<string, number[]>;
  self: NodeJS.CpuUsage;
}

export function cpuSnapshot(processes: ProcessMap): CpuSnapshot {
  const roles = processes();
  const byPid = new Map<number, number>();
  for (const pids of Object.values(roles)) for (const pid of pids) byPid.set(pid, ticks(pid));
  return { at: performance.now(), byPid, roles, self: process.cpuUsage() };
}

/** CPU milliseconds per role between two snapshots, plus `bench` (this process). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const used: Record<string, number> = {};
  for (const [role, pids] of Object.entries(after.roles)) {
    used[role] = pids.reduce((sum, pid) => sum + ((after.byPid.get(pid) ?? 0) - (before.byPid.get(pid) ?? 0)) * 10, 0);
  }
  used['bench'] = (after.self.user - before.self.user + (after.self.system - before.self.system)) / 1000;
  return used;
}

export interface ServerCounters {
  /** pg_stat_database per database: every transaction counts, read-only ones (a pool query outside BEGIN) included. */
  databases: Record<string, { commits: number; rollbacks: number }>;
  /** Transaction ids assigned so far, server-wide: only transactions that write get one. */
  xids: number;
  /** WAL position in bytes. */
  walBytes: number;
}

/** One PostgreSQL server's transaction and WAL counters (the reading itself assigns no transaction id and writes no WAL). */
export async function serverCounters(adminUrl: string): Promise<ServerCounters> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'bench-checkout-stats' });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string; commits: string; rollbacks: string }>(
      'SELECT datname, xact_commit::text AS commits, xact_rollback::text AS rollbacks FROM pg_stat_database WHERE datname IS NOT NULL',
    );
    const server = await client.query<{ xids: string; wal: string }>("SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xids, (pg_current_wal_lsn() - '0/0')::text AS wal");
    return {
      databases: Object.fromEntries(rows.map((r) => [r.datname, { commits: Number(r.commits), rollbacks: Number(r.rollbacks) }])),
      xids: Number(server.rows[0]!.xids),
      walBytes: Number(server.rows[0]!.wal),
    };
  } finally {
    await client.end();
  }
}

/**
 * Messages written so far, per service database: the outbox sequence's last value (rows are
 * pruned after publishing, the sequence is not), and inbox rows (messages handled) since `since`.
 */
export async function messageCounts(databases: Record<string, string>, since: Date): Promise<Record<string, { written: number; handled: number }>> {
  const counts: Record<string, { written: number; handled: number }> = {};
  for (const [service, url] of Object.entries(databases)) {
    const client = new pg.Client({ connectionString: url, application_name: 'bench-checkout-stats' });
    await client.connect();
    try {
      const exists = await client.query("SELECT to_regclass('outbox_seq_seq') IS NOT NULL AS outbox, to_regclass('inbox') IS NOT NULL AS inbox");
      if (!exists.rows[0].outbox) continue;
      const written = await client.query<{ n: string }>('SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS n FROM outbox_seq_seq');
      const handled = exists.rows[0].inbox ? await client.query<{ n: string }>('SELECT count(*)::text AS n FROM inbox WHERE processed_at >= $1', [since]) : { rows: [{ n: '0' }] };
      counts[service] = { written: Number(written.rows[0]!.n), handled: Number(handled.rows[0]!.n) };
    } finally {
      await client.end();
    }
  }
  return counts;
}
