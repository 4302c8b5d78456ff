/**
 * `npm run chaos -- …`: breaks services of a running system on purpose, to watch
 * how the rest copes. Talks to each service process's fault control endpoint
 * (`/internal/faults`, there only with FAULT_INJECTION=true, which `npm start`
 * sets); see docs/chaos.md.
 *
 *   npm run chaos -- --target payments --latency 500ms --for 30s
 *   npm run chaos -- --target catalog --errors 20% --from orders
 *   npm run chaos -- --list
 *   npm run chaos -- --clear
 *
 * Instances come from the runtime file of the `npm start` running on the state
 * folder (`--state`, default BAZAAR_STATE_DIR or .bazaar), or `--url` directly.
 *
 * Exit codes: 0 done, 1 a service could not be reached or refused, 2 usage error.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clearFault, faultStatus, FAULT_ERROR_CODES, FAULT_LIMITS, FaultSpecError, setFault, validateFaultSpec, type FaultSpec, type FaultStatus } from '@bazaar/chassis/faults';
import { readRuntimeFile, type RuntimeFile } from '@bazaar/runtime/runtime-file';
import { serviceNames } from '@bazaar/topology';

const DEFAULT_STATE = resolve(fileURLToPath(new URL('../.bazaar', import.meta.url)));

export const HELP = `Usage: npm run chaos -- [options]

Break a service on purpose (one fault per instance; a new one replaces the old):
  --target <service>     The service to break: all its instances
  --instance <n|url>     Only one instance of --target: its replica number or URL
  --url <url>            A service at this URL instead of --target (repeatable)
  --latency <time>       Delay every matched request (500ms, 2s; a bare number is ms)
  --jitter <time>        Plus a random delay of up to this
  --errors <rate>        Answer this share with an error (20% or 0.2)
  --status <code>        The error's status: 503 (default), 500, 502, 504 or 429
  --reset <rate>         Reset this share of connections (the client sees ECONNRESET)
  --blackhole [rate]     Never answer this share (default 100%) until the fault ends
  --from <service>       Only requests from this service (the gateway is "gateway")
  --path <prefix>        Only requests whose path starts with this (e.g. /api/payments)
  --for <time>           End the fault by itself after this long (30s, 5m, 1h);
                         without it the fault stays until --clear

See and undo:
  --list, --status-only  Active faults and their counters, for every service
                         (or only --target / --url)
  --clear                End the faults of --target / --url, or of every service;
                         requests they hold go through at once

Options:
  --state <dir>          The running system's state folder
                         (default: BAZAAR_STATE_DIR or .bazaar in the repository)
  --json                 Print the services' answers as JSON
  -h, --help             This text

Services answer only with FAULT_INJECTION=true (npm start sets it) and only to
clients on the same machine. Never enable it in production.

Exit codes: 0 done, 1 a service could not be reached or refused, 2 usage error.
`;

/** A mistake in how the CLI was called: exit 2. */
class UsageError extends Error {}

/** Nothing to talk to: exit 1. */
class Failure extends Error {}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = { out: (text) => void process.stdout.write(text), err: (text) => void process.stderr.write(text) };

/** One service process the CLI talks to. */
interface Instance {
  /** The service's name; for a bare --url, what the service calls itself once asked. */
  service: string;
  url: string;
  replica?: number;
}

/** What one instance answered, or why it did not. */
interface Outcome {
  instance: Instance;
  status?: FaultStatus;
  error?: string;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env, io: Io = processIo): Promise<number> {
  try {
    return await run(argv, env, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`chaos: ${error.message}\nRun "npm run chaos -- --help" for usage.\n`);
      return 2;
    }
    io.err(`chaos: ${(error as Error).message}\n`);
    return 1;
  }
}

const SETTING_FLAGS = ['latency', 'jitter', 'errors', 'status', 'reset', 'blackhole', 'from', 'path', 'for'] as const;

async function run(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: withBlackholeRate(argv),
      allowPositionals: false,
      strict: true,
      options: {
        target: { type: 'string' },
        instance: { type: 'string' },
        url: { type: 'string', multiple: true },
        state: { type: 'string' },
        latency: { type: 'string' },
        jitter: { type: 'string' },
        errors: { type: 'string' },
        status: { type: 'string' },
        reset: { type: 'string' },
        blackhole: { type: 'string' },
        from: { type: 'string' },
        path: { type: 'string' },
        for: { type: 'string' },
        clear: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        'status-only': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    io.out(HELP);
    return 0;
  }

  const list = values.list || values['status-only'];
  const setting = SETTING_FLAGS.filter((name) => values[name] !== undefined);
  if (!list && !values.clear && setting.length === 0) {
    io.err(HELP);
    return 2;
  }
  if (list && values.clear) throw new UsageError('--list and --clear do not go together');
  if ((list || values.clear) && setting.length) throw new UsageError(`--${setting[0]} does not go with --${values.clear ? 'clear' : 'list'}`);
  if (values.target !== undefined && values.url !== undefined) throw new UsageError('use either --target or --url, not both');
  if (values.instance !== undefined && values.target === undefined) throw new UsageError('--instance needs --target');
  if (values.url !== undefined && values.state !== undefined) throw new UsageError('--state does not apply with --url');
  if (values.target !== undefined && !(serviceNames as readonly string[]).includes(values.target)) {
    throw new UsageError(`unknown service "${shorten(values.target)}" for --target (services: ${serviceNames.join(', ')})`);
  }

  let spec: FaultSpec | undefined;
  if (setting.length) {
    if (values.target === undefined && values.url === undefined) throw new UsageError('say which service to break: --target <service> (or --url <url>)');
    spec = faultSpec(values);
  }
  const urls = values.url?.map(serviceUrl);

  const instances = urls
    ? urls.map((url) => ({ service: url, url }))
    : selectInstances(await runningInstances(values.state ?? env['BAZAAR_STATE_DIR'] ?? DEFAULT_STATE), values.target, values.instance);

  if (spec) return applyFault(io, instances, spec, values.target, values.json);
  if (values.clear) return clearFaults(io, instances, values.json);
  return listFaults(io, instances, values.json);
}

/** `--blackhole` alone means every request: parseArgs has no optional values, so give it one. */
function withBlackholeRate(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    out.push(arg);
    if (arg === '--blackhole' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('-'))) out.push('100%');
  }
  return out;
}

type Values = Partial<Record<(typeof SETTING_FLAGS)[number], string>>;

/** The fault the flags describe, checked here (exit 2) before any service is asked. */
function faultSpec(values: Values): FaultSpec {
  const spec: FaultSpec = {};
  if (values.latency !== undefined) spec.latencyMs = duration('--latency', values.latency, { bareMs: true, max: FAULT_LIMITS.maxDelayMs });
  if (values.jitter !== undefined) spec.jitterMs = duration('--jitter', values.jitter, { bareMs: true, max: FAULT_LIMITS.maxDelayMs });
  if (values.errors !== undefined) spec.errorRate = rate('--errors', values.errors);
  if (values.status !== undefined) {
    const status = Number(values.status);
    if (!(values.status in FAULT_ERROR_CODES) || !Number.isInteger(status)) throw new UsageError(`--status must be one of ${Object.keys(FAULT_ERROR_CODES).join(', ')}`);
    if (values.errors === undefined) throw new UsageError('--status needs --errors (which share of requests gets it)');
    spec.errorStatus = status;
  }
  if (values.reset !== undefined) spec.resetRate = rate('--reset', values.reset);
  if (values.blackhole !== undefined) spec.blackholeRate = rate('--blackhole', values.blackhole);
  if (values.from !== undefined) {
    if (!(serviceNames as readonly string[]).includes(values.from)) throw new UsageError(`unknown service "${shorten(values.from)}" for --from (services: ${serviceNames.join(', ')})`);
    spec.from = values.from;
  }
  if (values.path !== undefined) {
    if (!values.path.startsWith('/')) throw new UsageError('--path must start with / (e.g. /api/payments)');
    spec.pathPrefix = values.path;
  }
  if (values.for !== undefined) spec.forMs = duration('--for', values.for, { bareMs: false, max: FAULT_LIMITS.maxForMs });
  try {
    return validateFaultSpec(spec);
  } catch (error) {
    if (!(error instanceof FaultSpecError)) throw error;
    throw new UsageError(error.errors.map((issue) => `${FLAG_OF[issue.path] ?? 'the fault'} ${FLAG_MESSAGES[issue.message] ?? issue.message}`).join('; '));
  }
}

const FLAG_OF: Record<string, string> = {
  'body/latencyMs': '--latency',
  'body/jitterMs': '--jitter',
  'body/errorRate': '--errors',
  'body/errorStatus': '--status',
  'body/resetRate': '--reset',
  'body/blackholeRate': '--blackhole',
  'body/from': '--from',
  'body/pathPrefix': '--path',
  'body/forMs': '--for',
};

const FLAG_MESSAGES: Record<string, string> = {
  'errorRate + resetRate + blackholeRate must be at most 1': 'adds up to more than 100%: --errors, --reset and --blackhole share one whole',
  'the fault does nothing: set latencyMs, jitterMs, errorRate, resetRate or blackholeRate': 'does nothing: give --latency, --jitter, --errors, --reset or --blackhole (above 0)',
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `1.5s`, `5m`, `1h`; a bare number is milliseconds where `bareMs`. */
export function duration(flag: string, text: string, options: { bareMs: boolean; max: number }): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} takes a time such as 500ms, 2s or 5m, not "${shorten(text)}"`);
  if (!match[2] && !options.bareMs) throw new UsageError(`${flag} needs a unit: ${text}s? ${text}m? (e.g. 30s)`);
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
  if (ms > options.max) throw new UsageError(`${flag} is at most ${formatMs(options.max)}`);
  if (flag === '--for' && ms < 1) throw new UsageError('--for must be at least 1ms');
  return ms;
}

/** `20%` or `0.2`. */
export function rate(flag: string, text: string): number {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const value = percent ? Number(percent[1]) / 100 : /^\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new UsageError(`${flag} takes a share of requests: a percentage (20%) or a fraction from 0 to 1 (0.2), not "${shorten(text)}"`);
  return value;
}

function serviceUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not "${shorten(text)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be an http(s) URL, not "${shorten(text)}"`);
  return url.origin;
}

/** The runtime file, with the replicas another launcher version may list. */
type Runtime = RuntimeFile & { instances?: Partial<Record<string, Array<{ url: string; pid?: number; replica?: number }>>> };

/** Every service process of the system running on `stateDir`. */
async function runningInstances(stateDir: string): Promise<Instance[]> {
  const runtime = (await readRuntimeFile(stateDir)) as Runtime | null;
  if (!runtime) throw new Failure(`no running system at ${stateDir} (start one with npm start, or pass --state <dir> or --url <url>)`);
  if (!isAlive(runtime.pid)) throw new Failure(`no running system at ${stateDir}: its runtime.json is left over from a launcher (pid ${runtime.pid}) that is gone`);
  const instances: Instance[] = [];
  const services: Record<string, string> = runtime.services ?? {};
  for (const service of new Set([...Object.keys(services), ...Object.keys(runtime.instances ?? {})])) {
    const replicas = runtime.instances?.[service];
    if (replicas?.length) {
      for (const replica of replicas) instances.push({ service, url: replica.url, ...(replica.replica !== undefined ? { replica: replica.replica } : {}) });
    } else if (services[service]) {
      instances.push({ service, url: services[service] });
    }
  }
  return instances;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true; // nothing to check against
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function selectInstances(all: Instance[], target: string | undefined, instance: string | undefined): Instance[] {
  if (target === undefined) return all;
  const ofTarget = all.filter((i) => i.service === target);
  if (ofTarget.length === 0) throw new Failure(`${target} is not running in this system`);
  if (instance === undefined) return ofTarget;
  const byReplica = /^\d+$/.test(instance) ? ofTarget.filter((i) => i.replica === Number(instance)) : [];
  let byUrl: Instance[] = [];
  if (!byReplica.length && URL.canParse(instance)) byUrl = ofTarget.filter((i) => i.url.replace(/\/$/, '') === new URL(instance).origin);
  const chosen = byReplica.length ? byReplica : byUrl;
  if (chosen.length === 0) {
    throw new UsageError(`${target} has no instance "${shorten(instance)}"; its instances: ${ofTarget.map((i) => (i.replica !== undefined ? `${i.replica} (${i.url})` : i.url)).join(', ')}`);
  }
  return chosen;
}

async function each(instances: Instance[], action: (url: string) => Promise<FaultStatus>): Promise<Outcome[]> {
  return Promise.all(
    instances.map(async (instance) => {
      try {
        const status = await action(instance.url);
        // A bare --url is named by what the service says it is.
        return { instance: instance.service === instance.url ? { ...instance, service: status.service } : instance, status };
      } catch (error) {
        return { instance, error: (error as Error).message };
      }
    }),
  );
}

async function applyFault(io: Io, instances: Instance[], spec: FaultSpec, target: string | undefined, json: boolean): Promise<number> {
  const outcomes = await each(instances, (url) => setFault(url, spec));
  if (json) {
    io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  } else {
    for (const outcome of outcomes) {
      if (outcome.status) io.out(`${label(outcome.instance)}: ${describeFault(spec)}${until(outcome.status)}\n`);
    }
  }
  const failed = reportFailures(io, outcomes, 'could not set the fault on');
  const applied = outcomes.length - failed;
  if (applied > 0 && spec.forMs === undefined) {
    const clear = target !== undefined ? `--target ${target}` : instances.map((i) => `--url ${i.url}`).join(' ');
    io.err(`chaos: no --for given: the fault stays until you run  npm run chaos -- --clear ${clear}\n`);
  }
  if (failed && applied) io.err(`chaos: the fault is set on ${applied} of ${outcomes.length} instances\n`);
  return failed ? 1 : 0;
}

async function clearFaults(io: Io, instances: Instance[], json: boolean): Promise<number> {
  const outcomes = await each(instances, clearFault);
  if (json) {
    io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  } else {
    for (const outcome of outcomes) {
      if (outcome.status) io.out(`${label(outcome.instance)}: ${outcome.status.ended ? `fault ${outcome.status.ended.reason} (${describeCounters(outcome.status)})` : 'no fault'}\n`);
    }
  }
  return reportFailures(io, outcomes, 'could not clear') ? 1 : 0;
}

async function listFaults(io: Io, instances: Instance[], json: boolean): Promise<number> {
  const outcomes = await each(instances, faultStatus);
  if (json) {
    io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
    return outcomes.some((o) => o.error) ? 1 : 0;
  }
  io.out(
    table(
      ['SERVICE', 'INSTANCE', 'FAULT', 'ENDS', 'SEEN', 'MATCHED', 'DELAYED', 'ERRORED', 'RESET', 'BLACKHOLED', 'HELD'],
      outcomes.map(({ instance, status, error }) => {
        const name = instance.replica !== undefined ? `${instance.service}#${instance.replica}` : instance.service;
        if (!status) return [name, instance.url, error ?? '?', '', '', '', '', '', '', '', ''];
        const c = status.counters;
        const fault = status.fault ? describeFault(status.fault) : status.ended ? `none (last one ${status.ended.reason} ${clock(status.ended.at)})` : 'none';
        const ends = status.fault ? (status.expiresAt ? clock(status.expiresAt) : 'on --clear') : '-';
        return [name, instance.url, fault, ends, ...[c.seen, c.matched, c.delayed, c.errored, c.reset, c.blackholed, status.held].map(String)];
      }),
    ),
  );
  const active = outcomes.filter((o) => o.status?.fault).length;
  io.out(`${active === 0 ? 'No active faults' : `${active} instance${active === 1 ? '' : 's'} with an active fault`} (${outcomes.length} asked)\n`);
  return outcomes.some((o) => o.error) ? 1 : 0;
}

function reportFailures(io: Io, outcomes: Outcome[], doing: string): number {
  const failed = outcomes.filter((o) => o.error);
  for (const outcome of failed) io.err(`chaos: ${doing} ${label(outcome.instance)}: ${outcome.error}\n`);
  return failed.length;
}

const label = (instance: Instance) => `${instance.service}${instance.replica !== undefined ? `#${instance.replica}` : ''} ${instance.service === instance.url ? '' : instance.url}`.trimEnd();

/** A fault in words: `latency 500ms +≤100ms, errors 20% (503), from orders, path /api/x`. */
export function describeFault(spec: FaultSpec): string {
  const parts: string[] = [];
  if (spec.latencyMs || spec.jitterMs) parts.push(`latency ${formatMs(spec.latencyMs ?? 0)}${spec.jitterMs ? ` +≤${formatMs(spec.jitterMs)}` : ''}`);
  if (spec.errorRate) parts.push(`errors ${percent(spec.errorRate)} (${spec.errorStatus ?? 503})`);
  if (spec.resetRate) parts.push(`resets ${percent(spec.resetRate)}`);
  if (spec.blackholeRate) parts.push(`blackhole ${percent(spec.blackholeRate)}`);
  if (spec.from) parts.push(`from ${spec.from}`);
  if (spec.pathPrefix) parts.push(`path ${spec.pathPrefix}*`);
  return parts.join(', ');
}

const until = (status: FaultStatus) => (status.expiresAt ? `, for ${formatMs(status.fault?.forMs ?? 0)} (until ${clock(status.expiresAt)})` : ', until cleared');

function describeCounters(status: FaultStatus): string {
  const c = status.counters;
  return `seen ${c.seen}, matched ${c.matched}, delayed ${c.delayed}, errored ${c.errored}, reset ${c.reset}, blackholed ${c.blackholed}`;
}

const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;

export function formatMs(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The local wall-clock time of an ISO timestamp. */
const clock = (iso: string) => new Date(iso).toTimeString().slice(0, 8);

/** What the user typed, shortened: a pasted secret is not echoed whole. */
const shorten = (text: string) => (text.length > 40 ? `${text.slice(0, 20)}…` : text);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `${cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}\n`;
  return [header, ...rows].map(line).join('');
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
