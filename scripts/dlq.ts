/**
 * `npm run dlq -- <command>`: the system's dead-letter queue from a terminal,
 * through the gateway's admin routes (`/api/admin/dlq`).
 *
 *   list [--service s] [--message name] [--limit n] [--json]
 *   show <service> <id>
 *   replay <service> <id>
 *   replay --all [--service s] [--message name]
 *   discard <service> <id>
 *   help
 *
 * The gateway is `--gateway` or BAZAAR_GATEWAY_URL (default http://127.0.0.1:8080).
 * An admin access token comes from `--token` or BAZAAR_TOKEN; without one the CLI
 * logs in with BAZAAR_ADMIN_EMAIL and BAZAAR_ADMIN_PASSWORD. Neither the token nor
 * the password is ever printed.
 *
 * Exit codes: 0 done, 1 the operation failed (the problem's title and detail are
 * printed), 2 usage error.
 */
import { parseArgs } from 'node:util';
import type { DeadLetterSummary, ReplayOutcome } from '@bazaar/contracts/messages';

const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';
const TIMEOUT_MS = 30_000;
/** Replaying a whole queue runs every handler again: give it longer. */
const REPLAY_ALL_TIMEOUT_MS = 120_000;

export const HELP = `Usage: npm run dlq -- <command> [options]

Commands:
  list [--service s] [--message name] [--limit n] [--json]
                              Dead letters of every consuming service, oldest first
  show <service> <id>         One dead letter with its message
  replay <service> <id>       Run one dead letter through its handler again
  replay --all [--service s] [--message name]
                              Replay every dead letter (of one service / message name)
  discard <service> <id>      Delete one dead letter for good
  help                        This text

Options:
  --gateway <url>   The gateway (default: BAZAAR_GATEWAY_URL or ${DEFAULT_GATEWAY})
  --token <jwt>     An admin access token (default: BAZAAR_TOKEN); without one, logs in
                    with BAZAAR_ADMIN_EMAIL and BAZAAR_ADMIN_PASSWORD
  --json            Print the gateway's JSON answer instead of text

Exit codes: 0 done, 1 failed, 2 usage error.
`;

/** A mistake in how the CLI was called: exit 2. */
class UsageError extends Error {}

/** The gateway refused or failed: exit 1, with the problem's title and detail. */
class Failure extends Error {}

interface Problem {
  title?: string;
  detail?: string;
  code?: string;
  status?: number;
  requestId?: string;
}

type ReplayResult = ReplayOutcome & { service: string };

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = { out: (text) => void process.stdout.write(text), err: (text) => void process.stderr.write(text) };

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env, io: Io = processIo): Promise<number> {
  try {
    return await run(argv, env, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`dlq: ${error.message}\nRun "npm run dlq -- help" for usage.\n`);
      return 2;
    }
    if (error instanceof Failure) {
      io.err(`dlq: ${error.message}\n`);
      return 1;
    }
    io.err(`dlq: ${(error as Error).message}\n`);
    return 1;
  }
}

async function run(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        gateway: { type: 'string' },
        token: { type: 'string' },
        service: { type: 'string' },
        message: { type: 'string' },
        limit: { type: 'string' },
        all: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    // parseArgs names the offending option, never echoes a value: safe to show.
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;

  if (values.help || command === 'help') {
    io.out(HELP);
    return 0;
  }
  if (command === undefined) {
    io.err(HELP);
    return 2;
  }

  const expect = (count: number, shape: string) => {
    if (rest.length !== count) throw new UsageError(`${command} takes ${shape}`);
  };
  const onlyFor = (allowed: Array<keyof typeof values>) => {
    const given = (['service', 'message', 'limit', 'all'] as const).filter((name) => values[name] !== undefined && values[name] !== false);
    const wrong = given.filter((name) => !allowed.includes(name));
    if (wrong.length) throw new UsageError(`--${wrong[0]} does not apply to "${command}${values.all ? ' --all' : ''}"`);
  };

  let action: (client: Client) => Promise<number>;
  switch (command) {
    case 'list': {
      expect(0, 'no arguments');
      onlyFor(['service', 'message', 'limit']);
      const limit = values.limit === undefined ? undefined : Number(values.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) throw new UsageError('--limit must be a whole number from 1 to 500');
      action = (client) => list(client, io, { service: values.service, messageName: values.message, limit, json: values.json });
      break;
    }
    case 'show':
      expect(2, '<service> <id>');
      onlyFor([]);
      action = (client) => show(client, io, rest[0]!, rest[1]!, values.json);
      break;
    case 'replay':
      if (values.all) {
        expect(0, 'either <service> <id> or --all, not both');
        onlyFor(['all', 'service', 'message']);
        action = (client) => replayAll(client, io, { service: values.service, messageName: values.message, json: values.json });
      } else {
        expect(2, '<service> <id> (or --all)');
        onlyFor([]);
        action = (client) => replayOne(client, io, rest[0]!, rest[1]!, values.json);
      }
      break;
    case 'discard':
      expect(2, '<service> <id>');
      onlyFor([]);
      action = (client) => discard(client, io, rest[0]!, rest[1]!, values.json);
      break;
    default:
      // Shortened: whatever was mistyped here (a pasted token, say) is not echoed whole.
      throw new UsageError(`unknown command "${command.length > 24 ? `${command.slice(0, 12)}…` : command}"`);
  }

  const gateway = gatewayUrl(values.gateway ?? env['BAZAAR_GATEWAY_URL'] ?? DEFAULT_GATEWAY);
  const token = values.token ?? env['BAZAAR_TOKEN'];
  const email = env['BAZAAR_ADMIN_EMAIL'];
  const password = env['BAZAAR_ADMIN_PASSWORD'];
  if (!token && !(email && password)) {
    throw new UsageError('no credentials: pass --token or set BAZAAR_TOKEN, or set BAZAAR_ADMIN_EMAIL and BAZAAR_ADMIN_PASSWORD');
  }
  const client = new Client(gateway, token ?? (await login(gateway, email!, password!)));
  return action(client);
}

function gatewayUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('--gateway / BAZAAR_GATEWAY_URL must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--gateway / BAZAAR_GATEWAY_URL must be an http(s) URL');
  return url;
}

/** Where the gateway is, for messages: without any user info the URL might carry. */
const shown = (url: URL) => url.origin;

interface Answer {
  status: number;
  body: unknown;
}

async function send(gateway: URL, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(new URL(path, gateway), {
      method: init.method ?? 'GET',
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(init.timeoutMs ?? TIMEOUT_MS),
    });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? 'it did not answer in time' : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
    throw new Failure(`cannot reach the gateway at ${shown(gateway)}: ${reason}`);
  }
  const text = await response.text();
  let body: unknown = text;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
  }
  return { status: response.status, body };
}

/** The failure for an answer that is not what was asked for: its problem's title and detail. */
function failure(answer: Answer, doing: string): Failure {
  const problem = typeof answer.body === 'object' && answer.body !== null ? (answer.body as Problem) : undefined;
  if (problem?.title) {
    const parts = [`${doing}: ${problem.title}`];
    if (problem.detail && problem.detail !== problem.title) parts.push(problem.detail);
    let text = parts.join(': ');
    if (problem.code) text += ` [${problem.code}, HTTP ${answer.status}]`;
    if (problem.requestId) text += ` (request id ${problem.requestId})`;
    return new Failure(text);
  }
  const snippet = typeof answer.body === 'string' && answer.body ? `: ${answer.body.slice(0, 200)}` : '';
  return new Failure(`${doing}: the gateway answered HTTP ${answer.status}${snippet}`);
}

async function login(gateway: URL, email: string, password: string): Promise<string> {
  const answer = await send(gateway, '/api/identity/login', { method: 'POST', body: { email, password } });
  const token = (answer.body as { accessToken?: unknown } | undefined)?.accessToken;
  if (answer.status !== 200 || typeof token !== 'string') throw failure(answer, `logging in as ${email}`);
  return token;
}

class Client {
  private readonly gateway: URL;
  private readonly token: string;

  constructor(gateway: URL, token: string) {
    this.gateway = gateway;
    this.token = token;
  }

  request(path: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
    return send(this.gateway, path, { ...init, headers: { authorization: `Bearer ${this.token}` } });
  }
}

const letterPath = (service: string, id: string) => `/api/admin/dlq/${encodeURIComponent(service)}/${encodeURIComponent(id)}`;

async function list(client: Client, io: Io, options: { service?: string | undefined; messageName?: string | undefined; limit?: number | undefined; json: boolean }): Promise<number> {
  const query = new URLSearchParams();
  if (options.service !== undefined) query.set('service', options.service);
  if (options.messageName !== undefined) query.set('messageName', options.messageName);
  if (options.limit !== undefined) query.set('limit', String(options.limit));
  const answer = await client.request(`/api/admin/dlq${query.size ? `?${query}` : ''}`);
  if (answer.status !== 200) throw failure(answer, 'listing dead letters');
  const page = answer.body as { items: DeadLetterSummary[]; total: number; services: Record<string, string> };
  warnUnavailable(io, page.services);
  if (options.json) {
    io.out(`${JSON.stringify(page, null, 2)}\n`);
    return 0;
  }
  if (page.items.length === 0) {
    io.out('No dead letters.\n');
    return 0;
  }
  io.out(
    table(
      ['SERVICE', 'ID', 'MESSAGE', 'REASON', 'ATTEMPTS', 'REPLAYS', 'DEAD AT', 'ERROR'],
      page.items.map((item) => [
        item.service,
        item.id,
        item.messageName ?? '-',
        item.reason,
        String(item.attempts),
        String(item.replays),
        item.deadAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
        truncate(oneLine(item.error), 60),
      ]),
    ),
  );
  io.out(`${page.items.length === page.total ? page.total : `${page.items.length} of ${page.total}`} dead letter${page.total === 1 ? '' : 's'}\n`);
  return 0;
}

async function show(client: Client, io: Io, service: string, id: string, json: boolean): Promise<number> {
  const answer = await client.request(letterPath(service, id));
  if (answer.status !== 200) throw failure(answer, `showing ${service} ${id}`);
  const letter = answer.body as DeadLetterSummary & { message: unknown };
  if (json) {
    io.out(`${JSON.stringify(letter, null, 2)}\n`);
    return 0;
  }
  const fields: Array<[string, string]> = [
    ['Service', letter.service],
    ['Id', letter.id],
    ['Message', letter.messageName ?? '-'],
    ['Message id', letter.messageId ?? '-'],
    ['Reason', letter.reason],
    ['Attempts', String(letter.attempts)],
    ['Dead at', letter.deadAt],
    ['Replays', `${letter.replays}${letter.lastReplayAt ? ` (last ${letter.lastReplayAt})` : ''}`],
    ['Error', letter.error],
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  for (const [label, value] of fields) io.out(`${`${label}:`.padEnd(width + 2)}${value}\n`);
  io.out(`\n${typeof letter.message === 'string' ? letter.message : JSON.stringify(letter.message, null, 2)}\n`);
  return 0;
}

async function replayOne(client: Client, io: Io, service: string, id: string, json: boolean): Promise<number> {
  const answer = await client.request(`${letterPath(service, id)}/replay`, { method: 'POST' });
  if (answer.status !== 200) throw failure(answer, `replaying ${service} ${id}`);
  const outcome = answer.body as { id: string; outcome: string };
  io.out(json ? `${JSON.stringify(outcome, null, 2)}\n` : `${service} ${outcome.id}: ${outcome.outcome}\n`);
  return 0;
}

async function replayAll(client: Client, io: Io, options: { service?: string | undefined; messageName?: string | undefined; json: boolean }): Promise<number> {
  const body: Record<string, string> = {};
  if (options.service !== undefined) body['service'] = options.service;
  if (options.messageName !== undefined) body['messageName'] = options.messageName;
  const answer = await client.request('/api/admin/dlq/replay', { method: 'POST', body, timeoutMs: REPLAY_ALL_TIMEOUT_MS });
  if (answer.status !== 200) throw failure(answer, 'replaying dead letters');
  const outcome = answer.body as { replayed: number; failed: number; results: ReplayResult[]; services: Record<string, string> };
  const unavailable = warnUnavailable(io, outcome.services);
  if (options.json) {
    io.out(`${JSON.stringify(outcome, null, 2)}\n`);
  } else {
    for (const result of outcome.results) io.out(`${result.service} ${result.id}: ${result.outcome}${result.error ? ` (${truncate(oneLine(result.error), 120)})` : ''}\n`);
    io.out(`${outcome.replayed} replayed, ${outcome.failed} failed\n`);
  }
  if (outcome.failed > 0) io.err(`dlq: ${outcome.failed} dead letter${outcome.failed === 1 ? '' : 's'} failed again and stay${outcome.failed === 1 ? 's' : ''} in the queue\n`);
  return outcome.failed > 0 || unavailable > 0 ? 1 : 0;
}

async function discard(client: Client, io: Io, service: string, id: string, json: boolean): Promise<number> {
  const answer = await client.request(letterPath(service, id), { method: 'DELETE' });
  if (answer.status !== 204 && answer.status !== 200) throw failure(answer, `discarding ${service} ${id}`);
  io.out(json ? `${JSON.stringify({ service, id, discarded: true })}\n` : `${service} ${id}: discarded\n`);
  return 0;
}

/** Tells (on stderr) which services could not be asked; returns how many. */
function warnUnavailable(io: Io, services: Record<string, string> | undefined): number {
  const unavailable = Object.entries(services ?? {}).filter(([, status]) => status !== 'ok').map(([name]) => name);
  if (unavailable.length) io.err(`dlq: warning: could not reach ${unavailable.join(', ')}; the answer leaves ${unavailable.length === 1 ? 'it' : 'them'} out\n`);
  return unavailable.length;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const truncate = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `${cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}\n`;
  return [header, ...rows].map(line).join('');
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
