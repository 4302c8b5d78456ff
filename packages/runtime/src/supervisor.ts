import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ProcessSpec {
  /** Unique per process: a service, or one of its replicas (`catalog#2`); a crashed one restarts under it. */
  name: string;
  /** Entry module, run with this process's Node. */
  entry: string;
  env: Record<string, string>;
}

export interface SupervisorOptions {
  /** Where each output line of a child goes (already prefixed with its name). */
  output: (name: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** Informational events: started, crashed, restarting. */
  event: (message: string) => void;
  /** How long a child has to report ready. */
  readyTimeoutMs?: number;
  /** Called each time a child reports ready, at its first start and after every restart (it has a new pid then). */
  ready?: (name: string, pid: number, address: string) => void;
}

/** Exit code of a service that refuses its configuration: restarting would not help. */
const EX_CONFIG = 78;

interface Supervised {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  restarts: number;
  startedAt: number;
}

/**
 * Runs each service as its own OS process and keeps it running: a crashed
 * service is restarted with exponential backoff (reset after a minute of health);
 * on stop, children get SIGTERM in reverse start order and SIGKILL if they linger.
 * Children get an IPC channel: they report ready over it and shut down when it
 * closes, so a killed supervisor leaves no orphans.
 */
export class Supervisor {
  private readonly processes = new Map<string, Supervised>();
  private stopping = false;
  private readonly options: SupervisorOptions;
  /** Called when a service exits with a configuration error: the system cannot run. */
  onFatal: (name: string, code: number) => void = () => {};

  constructor(options: SupervisorOptions) {
    this.options = options;
  }

  /** Starts `spec` and resolves with its listening address once it reports ready (rejects if it exits or times out first). */
  start(spec: ProcessSpec): Promise<string> {
    const entry: Supervised = { spec, child: undefined, restarts: 0, startedAt: 0 };
    this.processes.set(spec.name, entry);
    return this.launch(entry);
  }

  pid(name: string): number | undefined {
    return this.processes.get(name)?.child?.pid;
  }

  private launch(entry: Supervised): Promise<string> {
    const { spec } = entry;
    const child = spawn(process.execPath, [spec.entry], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Own process group: a terminal's Ctrl-C reaches the supervisor, which stops children in order.
      detached: true,
    });
    entry.child = child;
    entry.startedAt = Date.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]! }).on('line', (line) => this.options.output(spec.name, line, stream));
    }

    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${spec.name} did not become ready within ${(this.options.readyTimeoutMs ?? 60_000) / 1000} s`)), this.options.readyTimeoutMs ?? 60_000);
      child.on('message', (message: { type?: string; address?: string }) => {
        if (message?.type === 'ready') {
          clearTimeout(timer);
          resolve(String(message.address ?? ''));
          if (child.pid !== undefined) this.options.ready?.(spec.name, child.pid, String(message.address ?? ''));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited during start (${signal ?? `code ${code}`})`));
      });
    });
    ready.catch(() => {});

    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      if (code === EX_CONFIG) {
        this.options.event(`${spec.name} refused its configuration (exit ${code}); not restarting`);
        this.onFatal(spec.name, code);
        return;
      }
      if (Date.now() - entry.startedAt > 60_000) entry.restarts = 0;
      const delay = Math.min(30_000, 500 * 2 ** entry.restarts);
      entry.restarts++;
      this.options.event(`${spec.name} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!this.stopping) void this.launch(entry).then(() => this.options.event(`${spec.name} is back`)).catch(() => {});
      }, delay).unref();
    });
    return ready;
  }

  /** Stops every child, last started first; SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.processes.values()].reverse()) {
      const child = entry.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.options.event(`${entry.spec.name} did not stop within ${graceMs} ms; killing it`);
        child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    }
  }

  /** Immediate SIGKILL of everything (second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    for (const entry of this.processes.values()) entry.child?.kill('SIGKILL');
  }
}
