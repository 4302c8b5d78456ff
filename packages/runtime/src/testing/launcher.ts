/**
 * The launcher (`npm start`) as end-to-end tests drive it: a child process with
 * its own state folder and port, ready when it prints its summary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, type Dispatcher } from 'undici';
import type { ServiceName } from '@bazaar/topology';
import { readRuntimeFile, type RuntimeInstance } from '../runtime-file.ts';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

export interface RunningSystem {
  process: ChildProcess;
  output: string[];
  gateway: string;
  /** Every service process's pid, as the launcher's summary printed them (replicas included). */
  pids: number[];
  /** Every process of each service, replica 1 first, as runtime.json listed them when the system became ready. */
  instances: Partial<Record<ServiceName, RuntimeInstance[]>>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Processes per service (`--replicas`), e.g. `{ catalog: 2 }`; 1 for the others. */
  replicas?: Partial<Record<ServiceName, number>>;
}

export async function startSystem(stateDir: string, port: number, extra: StartOptions = {}): Promise<RunningSystem> {
  const replicas = Object.entries(extra.replicas ?? {}).map(([service, count]) => `${service}=${count}`);
  const args = [...(replicas.length > 0 ? ['--replicas', replicas.join(',')] : []), ...(extra.args ?? [])];
  const child = spawn(process.execPath, [join(root, 'packages/runtime/src/start.ts'), '--state', stateDir, '--port', String(port), ...args], {
    env: {
      ...isolatedEnvironment(),
      NO_COLOR: '1',
      BAZAAR_EPHEMERAL_PORTS: '1',
      // Every request of a test comes from one address and polls (an order until it settles):
      // the gateway's budgets are not what these tests are about (tests/rate-limit-replicas is).
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
      // Services record no spans, as before the console existed, unless a test asks for it
      // (tests/system.e2e.test.ts) or exports to a collector of its own.
      BAZAAR_TRACE_CONSOLE: 'off',
      ...extra.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 120 s:\n${output.slice(-40).join('\n')}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output.push(...chunk.toString().split('\n'));
      if (output.some((line) => line.includes('Press Ctrl-C to stop.'))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited with ${code}:\n${output.slice(-40).join('\n')}`));
    });
  });
  await ready;
  const pids = output.flatMap((line) => [...line.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1])));
  const instances = (await readRuntimeFile(stateDir))?.instances ?? {};
  return { process: child, output, gateway: `http://127.0.0.1:${port}`, pids, instances };
}

/** The caller's environment minus anything that would point the launcher at other databases, another registry or a fixed admin. */
export function isolatedEnvironment(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/DATABASE_URL$|^BAZAAR_|^BROKER_|^PORT$|^HOST$|^REGISTRY_URL$|^DISCOVERY$|^INSTANCE_METADATA$/.test(key)));
}

export async function stopSystem(system: RunningSystem): Promise<number | null> {
  if (system.process.exitCode !== null) return system.process.exitCode;
  const exited = new Promise<number | null>((resolve) => system.process.once('exit', (code) => resolve(code)));
  system.process.kill('SIGTERM');
  return exited;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export async function gatewayRequest(gateway: string, path: string, options: { method?: string; token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await request(`${gateway}${path}`, { method: (options.method ?? 'GET') as Dispatcher.HttpMethod, headers, body });
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, headers: response.headers, body: parsed, text };
}


/** Each service's pid as the launcher's summary printed it (a restarted service has a new one). */
export function servicePids(system: RunningSystem): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const line of system.output) {
    const match = /^\s+([a-z]+)\s+http:\/\/\S+\s+\(pid (\d+)/.exec(line);
    if (match) pids[match[1]!] = Number(match[2]);
  }
  return pids;
}

/**
 * Each process's pid by the name the launcher runs it under: `catalog` for
 * replica 1, `catalog#2` and so on for the others (as of the system's start;
 * runtime.json has the pids of restarted ones).
 */
export function replicaPids(system: RunningSystem): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [service, instances] of Object.entries(system.instances)) {
    for (const instance of instances ?? []) pids[instance.replica === 1 ? service : `${service}#${instance.replica}`] = instance.pid;
  }
  return pids;
}

/** The admin login the launcher's summary shows on a fresh state folder. */
export function adminLogin(system: RunningSystem): { email: string; password: string } {
  const line = system.output.find((l) => l.includes('admin login'));
  const match = /admin login\s+(\S+) \/ (\S+)/.exec(line ?? '');
  if (!match) throw new Error(`no admin login in the launcher's summary: ${line}`);
  return { email: match[1]!, password: match[2]! };
}
