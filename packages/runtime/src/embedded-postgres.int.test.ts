/**
 * The embedded PostgreSQL as a normal user: in a child process as `nobody` when the
 * tests run as root (the root path is what global-setup.ts exercises), as the current
 * user otherwise. Covers reuse of the cluster across starts and a postmaster left
 * running by an owner that died of SIGKILL. Nothing may outlive the tests.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { freePort } from './ports.ts';
import type { ChildReport } from './testing/start-postgres-child.ts';

const isRoot = process.getuid?.() === 0;
const id = (flag: string, name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
const runAs = isRoot ? { uid: id('-u', 'nobody'), gid: id('-g', 'nobody') } : { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
const childScript = fileURLToPath(new URL('./testing/start-postgres-child.ts', import.meta.url));
const { NODE_TEST_CONTEXT: _testContext, ...childEnv } = process.env;

const folders: string[] = [];
/** Pids of processes whose command line names `path`, other than this process. */
const processesUsing = (path: string) =>
  spawnSync('pgrep', ['-f', path], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid);

after(async () => {
  for (const folder of folders) {
    // Only when a test failed midway: SIGINT stops a child and makes a postmaster shut down fast.
    for (const pid of processesUsing(folder)) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // gone already
      }
    }
    for (let waited = 0; waited < 10_000 && processesUsing(folder).length > 0; waited += 100) await new Promise((r) => setTimeout(r, 100));
    await rm(folder, { recursive: true, force: true });
  }
});

/** A state dir in a fresh folder that the child's user owns. */
async function stateDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'bazaar-pg-'));
  folders.push(folder);
  await chown(folder, runAs.uid, runAs.gid);
  return join(folder, 'state');
}

/** Starts the child on `dir`; resolves with its report once it has printed one. */
async function startChild(dir: string, mode: 'stop' | 'hold'): Promise<{ child: ChildProcess; report: ChildReport; exited: Promise<unknown> }> {
  const command = [...(isRoot ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all'] : []), process.execPath, childScript, dir, mode];
  const child = spawn(command[0]!, command.slice(1), { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const line = await Promise.race([once(lines, 'line').then(([text]) => String(text)), exited.then(() => undefined)]);
  lines.close();
  if (line === undefined) assert.fail(`the child exited (${child.exitCode ?? child.signalCode}) without a report:\n${stderr}`);
  return { child, report: JSON.parse(line) as ChildReport, exited };
}

async function runChild(dir: string): Promise<ChildReport> {
  const { child, report, exited } = await startChild(dir, 'stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
  assert.equal(child.exitCode, 0, 'the child stops PostgreSQL and exits (a PostgreSQL still running would keep it alive)');
  return report;
}

/** Alive and not a zombie waiting for its (re)parent to reap it. */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

describe(`embedded PostgreSQL as ${isRoot ? 'nobody (the tests run as root)' : 'the current user'}`, () => {
  it('starts PostgreSQL 18 as that user, and a second start reuses the cluster and its data', { timeout: 120_000 }, async () => {
    const dir = await stateDir();
    const first = await runChild(dir);
    assert.equal(first.uid, runAs.uid);
    assert.equal(first.postmasterUid, runAs.uid, 'the postmaster runs as the unprivileged user');
    assert.equal(first.currentUser, 'postgres');
    assert.match(first.version, /^PostgreSQL 18\./);
    assert.equal(first.launcherLog.filter((line) => line.startsWith('initialising')).length, 1, 'the first start runs initdb');
    assert.deepEqual(processesUsing(dir), [], 'stop leaves no process behind');

    const second = await runChild(dir);
    assert.equal(second.systemIdentifier, first.systemIdentifier, 'the same cluster, not a new initdb');
    assert.deepEqual(second.runs, [first.pid, second.pid], 'data written by the first run is there');
    assert.deepEqual(second.launcherLog, []);
    assert.deepEqual(processesUsing(dir), []);
  });

  it('stops a postmaster left running by an owner killed with SIGKILL, then starts the same cluster', { timeout: 120_000 }, async () => {
    const dir = await stateDir();
    const holder = await startChild(dir, 'hold');
    holder.child.kill('SIGKILL');
    await holder.exited;
    const stale = holder.report.postmasterPid;
    assert.ok(await isRunning(stale), 'PostgreSQL outlives the owner that was killed');

    const started = Date.now();
    const next = await runChild(dir);
    assert.deepEqual(next.launcherLog, [`stopping a PostgreSQL left running by an earlier launcher (pid ${stale})`]);
    assert.notEqual(next.postmasterPid, stale);
    assert.equal(next.systemIdentifier, holder.report.systemIdentifier);
    assert.deepEqual(next.runs, [holder.report.pid, next.pid]);
    assert.ok(!(await isRunning(stale)), 'the leftover postmaster is gone');
    assert.ok(Date.now() - started < 10_000, `the restart does not wait out a timeout (${Date.now() - started} ms)`);
    assert.deepEqual(processesUsing(dir), [], 'nothing outlives the second owner');
  });
});

describe('embedded PostgreSQL: two systems starting at once', () => {
  it('both come up when they prefer the same port: the one that finds it taken takes another', { timeout: 120_000 }, async () => {
    const preferredPort = await freePort();
    const dirs = await Promise.all([stateDir(), stateDir()]);
    const started = await Promise.allSettled(dirs.map((dir) => startEmbeddedPostgres({ stateDir: dir, preferredPort })));
    const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    try {
      assert.deepEqual(
        started.map((result) => result.status),
        ['fulfilled', 'fulfilled'],
        started.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')).join('\n'),
      );
      assert.notEqual(running[0]!.port, running[1]!.port);
      assert.ok(running.some((postgres) => postgres.port === preferredPort), 'one of them has the port it preferred');
      for (const postgres of running) {
        const client = new pg.Client({ connectionString: postgres.adminUrl });
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
      }
    } finally {
      await Promise.all(running.map((postgres) => postgres.stop()));
    }
  });
});
