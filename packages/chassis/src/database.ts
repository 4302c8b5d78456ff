import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Anything that runs a parameterised query: the pool (`Database`) or a transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface DatabaseOptions {
  connectionString: string;
  /** Shown in pg_stat_activity; the service name. */
  applicationName: string;
  max?: number;
  /** Server-side statement timeout, so a stuck query cannot hold a request forever. */
  statementTimeoutMs?: number;
}

const AT_COMMIT = Symbol('bazaar.atCommit');
type Deferring = pg.PoolClient & { [AT_COMMIT]?: string[] };

/**
 * Defers a statement to the COMMIT of the transaction `tx` belongs to, sent in the
 * same round trip: for writes whose result the transaction does not need (a read
 * model, a status, a log line). `sql` is the statement with `$n` placeholders for
 * `values`, inlined as quoted literals (text, as the driver sends parameters:
 * PostgreSQL infers their types the same way); or a function making the literal
 * SQL. Answers false (nothing deferred) when `tx` is not a transaction opened by
 * `Database.transaction` — the pool, say — and the caller should run the
 * statement now. A deferred statement that fails fails the commit: nothing of the
 * transaction is kept.
 */
export function atCommit(tx: Queryable, sql: string | (() => string), values: readonly unknown[] = []): boolean {
  const deferred = (tx as Deferring)[AT_COMMIT];
  if (!deferred) return false;
  deferred.push(typeof sql === 'function' ? sql() : inlineSql(sql, values));
  return true;
}

/** Runs `sql` with `values` now, or with the COMMIT of `tx` when it is a `Database.transaction` (see `atCommit`). */
export async function writeBehind(tx: Queryable, sql: string, values: readonly unknown[]): Promise<void> {
  if (!atCommit(tx, sql, values)) await tx.query(sql, [...values]);
}

/**
 * `sql` with each `$n` replaced by `values[n-1]` as a quoted literal: a statement
 * that can share a round trip with others (simple-query protocol, no parameters).
 * The statements are ours: `$` appears in them only as a placeholder.
 */
export function inlineSql(sql: string, values: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index >= values.length) throw new Error(`no value for $${n}`);
    return literal(values[index]);
  });
}

function literal(value: unknown): string {
  return value === null || value === undefined ? 'NULL' : sqlLiteral(textOf(value));
}

/** The text form of a parameter, as pg sends it. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `{${value.map((item) => (item === null || item === undefined ? 'NULL' : `"${textOf(item).replace(/[\\"]/g, (c) => `\\${c}`)}"`)).join(',')}}`;
  return JSON.stringify(value);
}

/**
 * A SQL string literal for `value`, exactly as pg's `escapeLiteral` writes it (quotes
 * doubled; backslashes doubled in an E'' literal), without its loop over every
 * character: envelopes and read models of a few kilobytes are inlined on every
 * checkout step, and most contain neither character.
 */
export function sqlLiteral(value: string): string {
  const quoted = value.includes("'") ? value.replaceAll("'", "''") : value;
  return value.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** A service's connection pool to the database it owns. */
export class Database {
  readonly pool: pg.Pool;

  constructor(options: DatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      application_name: options.applicationName,
      max: options.max ?? 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs ?? 10_000,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on('error', () => {});
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values);
  }

  /**
   * Runs `work` in one transaction: committed if it resolves, rolled back if it
   * throws. `lockTimeoutMs` bounds every lock wait in it (`SET LOCAL lock_timeout`,
   * sent with the BEGIN: no extra round trip). `prelude` is literal SQL sent with
   * the BEGIN too (its last statement's rows are handed to `work`), and statements
   * deferred with `atCommit` go with the COMMIT: a transaction's first and last
   * statements cost no round trip of their own.
   */
  async transaction<T>(work: (tx: pg.PoolClient, prelude: pg.QueryResultRow[]) => Promise<T>, options: { lockTimeoutMs?: number; prelude?: string } = {}): Promise<T> {
    const client = await this.pool.connect();
    const deferred: string[] = [];
    (client as Deferring)[AT_COMMIT] = deferred;
    try {
      const begin = [options.lockTimeoutMs === undefined ? 'BEGIN' : `BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`];
      if (options.prelude) begin.push(options.prelude);
      const started = (await client.query(begin.join('; '))) as pg.QueryResult | pg.QueryResult[];
      const result = await work(client, options.prelude ? (Array.isArray(started) ? started.at(-1)!.rows : started.rows) : []);
      deferred.push('COMMIT');
      await client.query(deferred.join(';\n'));
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      delete (client as Deferring)[AT_COMMIT];
      client.release();
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface AppliedMigration {
  version: string;
  checksum: string;
}

const MIGRATION_LOCK = 7_241_001;

/**
 * Applies the plain-SQL migrations in `directory` (`0001_name.sql`, …) in file-name
 * order, each in its own transaction, recording name and checksum in
 * `schema_migrations`. Replicas starting together serialise on an advisory lock.
 * An applied migration whose file changed is an error: migrations are append-only.
 */
export async function migrate(db: Database, directory: URL | string, options: { namespace?: string } = {}): Promise<string[]> {
  // A namespace keeps migration sets apart in one table (e.g. the chassis's `messaging/0001_…`).
  const versionOf = (file: string) => (options.namespace ? `${options.namespace}/${file}` : file);
  const dir = typeof directory === 'string' ? directory : fileURLToPath(directory);
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  const client = await db.pool.connect();
  const appliedNow: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<AppliedMigration>('SELECT version, checksum FROM schema_migrations');
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const file of files) {
      const sql = await readFile(`${dir}/${file}`, 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const known = applied.get(versionOf(file));
      if (known !== undefined) {
        if (known !== checksum) throw new Error(`migration ${file} was changed after it was applied; add a new migration instead`);
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [versionOf(file), checksum]);
        await client.query('COMMIT');
        appliedNow.push(versionOf(file));
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return appliedNow;
}

/** Creates database `name` on the server behind `adminUrl` unless it exists. */
export async function createDatabaseIfMissing(adminUrl: string, name: string): Promise<boolean> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`refusing to create database with unusual name "${name}"`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } catch (error) {
      // Two starters racing: the loser sees unique_violation / duplicate_database.
      if ((error as { code?: string }).code !== '42P04' && (error as { code?: string }).code !== '23505') throw error;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

/** The connection string for database `name` on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
