/**
 * Fault injection: a service breaks on purpose, on request, so people and tests
 * can watch how the rest of the system copes (`npm run chaos`, docs/chaos.md).
 *
 * The injector sits in front of everything else in the service's request path and
 * is controlled through `GET|PUT|DELETE /internal/faults` on the service itself.
 * It exists only when FAULT_INJECTION=true (the launcher sets it for `npm start`);
 * otherwise `around` is a plain `next()` and the endpoint is a normal 404.
 *
 * A fault (one per process; setting one replaces the previous) may add latency,
 * answer errors, reset connections or never answer, for all requests or only those
 * from one caller or under one path, and may end by itself after a while.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode, Problem } from '@bazaar/contracts';
import { problem, PROBLEM_CONTENT_TYPE } from './problem.ts';

export interface FaultSpec {
  /** Delay added before a matched request is handled. */
  latencyMs?: number;
  /** A random extra delay, from 0 up to this, on top of `latencyMs`. */
  jitterMs?: number;
  /** Fraction (0..1) of matched requests answered with `errorStatus` as problem+json. */
  errorRate?: number;
  /** Status of injected errors: 503 (default), 500, 502, 504 or 429. */
  errorStatus?: number;
  /** Fraction (0..1) of matched requests whose connection is reset without an answer. */
  resetRate?: number;
  /** Fraction (0..1) of matched requests never answered: held until the fault ends or the client gives up. */
  blackholeRate?: number;
  /** Only requests whose `x-bazaar-caller` header names this service (the gateway sends `gateway`). */
  from?: string;
  /** Only requests whose path starts with this. */
  pathPrefix?: string;
  /** The fault ends by itself after this long, so a crashed CLI never leaves one behind. */
  forMs?: number;
}

/** What the current fault (or, once it ended, the last one) did since it was set. */
export interface FaultCounters {
  /** Requests that arrived while the fault was active (the control endpoint and /healthz aside). */
  seen: number;
  /** Of those, the ones its `from` and `pathPrefix` selected. */
  matched: number;
  delayed: number;
  errored: number;
  reset: number;
  blackholed: number;
}

export interface FaultStatus {
  service: string;
  enabled: boolean;
  /** The active fault, or null. */
  fault: FaultSpec | null;
  setAt: string | null;
  /** When the active fault ends by itself; null when it lasts until cleared. */
  expiresAt: string | null;
  /** How the last fault ended, while none is active. */
  ended: { at: string; reason: 'cleared' | 'expired' } | null;
  counters: FaultCounters;
  /** Requests held right now (delayed or blackholed). */
  held: number;
}

export interface FaultInjector {
  /**
   * Takes the raw request first. Calls next() (possibly after a delay) to let it
   * through, or answers, resets or holds it itself. Also answers the control
   * endpoint, `/internal/faults`.
   */
  around(req: IncomingMessage, res: ServerResponse, next: () => void): void;
  /** Replaces the active fault (throws a FaultSpecError for an invalid spec, or when disabled). */
  set(spec: FaultSpec): void;
  /** Ends the active fault; held and delayed requests go through at once. Call it before closing the server. */
  clear(): void;
  status(): FaultStatus;
}

/** The little of a pino logger the injector uses. */
export interface FaultLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/** Where every service answers fault control requests, when fault injection is enabled. */
export const FAULT_CONTROL_PATH = '/internal/faults';
/** The header callers name themselves in (what `from` matches). */
export const CALLER_HEADER = 'x-bazaar-caller';
/** Set on answers the injector made up, so nobody mistakes them for the service's own. */
export const FAULT_HEADER = 'x-bazaar-fault';

/** Bounds of a spec: a fault is a test tool, not a way to wedge a process for days. */
export const FAULT_LIMITS = { maxDelayMs: 120_000, maxForMs: 24 * 60 * 60 * 1000 } as const;

/** The statuses an injected error may have, and the catalogue code each answers with. */
export const FAULT_ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  502: 'UPSTREAM_UNAVAILABLE',
  503: 'SERVICE_UNAVAILABLE',
  504: 'UPSTREAM_TIMEOUT',
};

const SPEC_KEYS = ['latencyMs', 'jitterMs', 'errorRate', 'errorStatus', 'resetRate', 'blackholeRate', 'from', 'pathPrefix', 'forMs'] as const;
const MAX_BODY_BYTES = 16 * 1024;

type SpecIssue = { path: string; message: string };

/** A spec the injector refuses; `errors` name each bad field. */
export class FaultSpecError extends Error {
  readonly errors: SpecIssue[];

  constructor(errors: SpecIssue[]) {
    super(errors.map((e) => `${e.path} ${e.message}`).join('; '));
    this.name = 'FaultSpecError';
    this.errors = errors;
  }
}

/**
 * Checks a spec strictly (unknown keys, ranges, rates adding up to at most 1, a
 * fault that does something) and returns it with only the keys it had.
 */
export function validateFaultSpec(value: unknown): FaultSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FaultSpecError([{ path: 'body', message: 'must be a JSON object' }]);
  const input = value as Record<string, unknown>;
  const errors: SpecIssue[] = [];
  const spec: FaultSpec = {};
  for (const key of Object.keys(input)) {
    if (!(SPEC_KEYS as readonly string[]).includes(key)) errors.push({ path: `body/${key}`, message: `is not a fault setting (known: ${SPEC_KEYS.join(', ')})` });
  }
  const number = (key: 'latencyMs' | 'jitterMs' | 'forMs' | 'errorRate' | 'resetRate' | 'blackholeRate' | 'errorStatus', min: number, max: number, integer: boolean) => {
    const v = input[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      errors.push({ path: `body/${key}`, message: `must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}` });
      return;
    }
    spec[key] = v;
  };
  number('latencyMs', 0, FAULT_LIMITS.maxDelayMs, true);
  number('jitterMs', 0, FAULT_LIMITS.maxDelayMs, true);
  number('forMs', 1, FAULT_LIMITS.maxForMs, true);
  number('errorRate', 0, 1, false);
  number('resetRate', 0, 1, false);
  number('blackholeRate', 0, 1, false);
  if (input['errorStatus'] !== undefined) {
    const status = input['errorStatus'];
    if (typeof status !== 'number' || !(status in FAULT_ERROR_CODES)) {
      errors.push({ path: 'body/errorStatus', message: `must be one of ${Object.keys(FAULT_ERROR_CODES).join(', ')}` });
    } else {
      spec.errorStatus = status;
    }
  }
  const from = input['from'];
  if (from !== undefined) {
    if (typeof from !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(from)) errors.push({ path: 'body/from', message: 'must be a service name (lower-case letters, digits, dashes)' });
    else spec.from = from;
  }
  const pathPrefix = input['pathPrefix'];
  if (pathPrefix !== undefined) {
    if (typeof pathPrefix !== 'string' || !pathPrefix.startsWith('/') || pathPrefix.length > 512 || /[?#\s]/.test(pathPrefix)) {
      errors.push({ path: 'body/pathPrefix', message: 'must be a path starting with / (no query, at most 512 characters)' });
    } else {
      spec.pathPrefix = pathPrefix;
    }
  }
  if (errors.length === 0) {
    const rates = (spec.errorRate ?? 0) + (spec.resetRate ?? 0) + (spec.blackholeRate ?? 0);
    // Each request meets at most one of these fates, so their fractions share one whole.
    if (rates > 1 + 1e-9) errors.push({ path: 'body', message: 'errorRate + resetRate + blackholeRate must be at most 1' });
    if (spec.errorStatus !== undefined && !spec.errorRate) errors.push({ path: 'body/errorStatus', message: 'needs an errorRate above 0' });
    if (!spec.latencyMs && !spec.jitterMs && !spec.errorRate && !spec.resetRate && !spec.blackholeRate) {
      errors.push({ path: 'body', message: 'the fault does nothing: set latencyMs, jitterMs, errorRate, resetRate or blackholeRate' });
    }
  }
  if (errors.length) throw new FaultSpecError(errors);
  return spec;
}

/** A request the fault holds: delayed (with a timer) or blackholed (until the fault ends). */
interface Held {
  release(): void;
}

type Fate = 'pass' | 'error' | 'reset' | 'blackhole';

const zeroCounters = (): FaultCounters => ({ seen: 0, matched: 0, delayed: 0, errored: 0, reset: 0, blackholed: 0 });

/**
 * The service's fault injector. Disabled, it costs one call per request and
 * answers nothing; enabled without a fault, one boolean check and a path test.
 * `random` is for tests that need to know each request's fate.
 */
export function createFaultInjector(options: { enabled: boolean; service: string; log?: FaultLog; random?: () => number }): FaultInjector {
  const { service, log } = options;
  if (!options.enabled) {
    return {
      around: (_req, _res, next) => next(),
      set: () => {
        throw new Error(`fault injection is disabled in ${service} (FAULT_INJECTION=true enables it)`);
      },
      clear: () => {},
      status: () => ({ service, enabled: false, fault: null, setAt: null, expiresAt: null, ended: null, counters: zeroCounters(), held: 0 }),
    };
  }
  const random = options.random ?? Math.random;

  let active = false;
  let spec: FaultSpec | null = null;
  // The spec, precomputed for the request path: cumulative thresholds of one random draw.
  let blackholeBelow = 0;
  let resetBelow = 0;
  let errorBelow = 0;
  let errorCode: ErrorCode = 'SERVICE_UNAVAILABLE';
  let setAt: Date | null = null;
  let expiresAt: Date | null = null;
  let expiry: NodeJS.Timeout | undefined;
  let ended: FaultStatus['ended'] = null;
  let counters = zeroCounters();
  const held = new Set<Held>();

  const end = (reason: 'cleared' | 'expired') => {
    if (!active) return;
    const last = spec;
    active = false;
    spec = null;
    setAt = null;
    expiresAt = null;
    clearTimeout(expiry);
    expiry = undefined;
    ended = { at: new Date().toISOString(), reason };
    const releasing = held.size;
    // Whatever the fault held goes through now, as if it had never been faulted.
    for (const entry of [...held]) entry.release();
    log?.info({ fault: last, reason, counters, released: releasing }, `fault injection: fault ${reason}`);
  };

  const set = (input: FaultSpec) => {
    const next = validateFaultSpec(input);
    if (active) end('cleared');
    spec = next;
    blackholeBelow = next.blackholeRate ?? 0;
    resetBelow = blackholeBelow + (next.resetRate ?? 0);
    errorBelow = resetBelow + (next.errorRate ?? 0);
    errorCode = FAULT_ERROR_CODES[next.errorStatus ?? 503]!;
    counters = zeroCounters();
    ended = null;
    setAt = new Date();
    expiresAt = next.forMs === undefined ? null : new Date(setAt.getTime() + next.forMs);
    if (next.forMs !== undefined) {
      expiry = setTimeout(() => end('expired'), next.forMs);
      // A fault must never keep a closing process alive.
      expiry.unref();
    }
    active = true;
    log?.warn({ fault: next, expiresAt: expiresAt?.toISOString() ?? null }, 'fault injection: fault set');
  };

  const status = (): FaultStatus => ({
    service,
    enabled: true,
    fault: spec,
    setAt: setAt?.toISOString() ?? null,
    expiresAt: expiresAt?.toISOString() ?? null,
    ended,
    counters: { ...counters },
    held: held.size,
  });

  /** Keeps the request until `ms` pass (then `due`) or the fault ends (then `next`); forgets it if the client leaves. */
  const hold = (res: ServerResponse, ms: number | undefined, due: () => void, next: () => void) => {
    let timer: NodeJS.Timeout | undefined;
    const drop = () => {
      held.delete(entry);
      clearTimeout(timer);
      res.off('close', drop);
    };
    const entry: Held = {
      release: () => {
        drop();
        next();
      },
    };
    if (ms !== undefined) {
      timer = setTimeout(() => {
        drop();
        due();
      }, ms);
      timer.unref();
    }
    // The client gave up (or the server is destroying the socket): nothing left to answer.
    res.once('close', drop);
    held.add(entry);
  };

  const injectError = (req: IncomingMessage, res: ServerResponse) => {
    const requestId = req.headers['x-request-id'];
    const body: Problem = problem(errorCode, {
      detail: `Injected fault: ${service} answers ${FAULT_STATUS_OF[errorCode]} on purpose (fault injection)`,
      instance: (req.url ?? '/').split('?')[0],
      requestId: typeof requestId === 'string' ? requestId : undefined,
    });
    const payload = JSON.stringify(body);
    res.writeHead(body.status, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(payload),
      [FAULT_HEADER]: 'error',
      ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
    });
    res.end(payload);
  };

  const reset = (req: IncomingMessage) => {
    // An RST, not a FIN: the client sees ECONNRESET, as when a process dies mid-request.
    req.socket.resetAndDestroy();
  };

  const around = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const url = req.url ?? '/';
    if (url.startsWith(FAULT_CONTROL_PATH) && (url.length === FAULT_CONTROL_PATH.length || url[FAULT_CONTROL_PATH.length] === '?')) {
      control(req, res);
      return;
    }
    if (!active) return next();
    if (url === '/healthz' || url.startsWith('/healthz?')) return next();
    const fault = spec!;
    counters.seen++;
    if (fault.from !== undefined && req.headers[CALLER_HEADER] !== fault.from) return next();
    if (fault.pathPrefix !== undefined && !url.startsWith(fault.pathPrefix)) return next();
    counters.matched++;

    const draw = errorBelow > 0 ? random() : 1;
    const fate: Fate = draw < blackholeBelow ? 'blackhole' : draw < resetBelow ? 'reset' : draw < errorBelow ? 'error' : 'pass';
    if (fate === 'blackhole') {
      counters.blackholed++;
      hold(res, undefined, next, next);
      return;
    }
    const delay = (fault.latencyMs ?? 0) + (fault.jitterMs ? Math.floor(random() * (fault.jitterMs + 1)) : 0);
    const act = () => {
      if (fate === 'reset') {
        counters.reset++;
        reset(req);
      } else if (fate === 'error') {
        counters.errored++;
        injectError(req, res);
      } else {
        next();
      }
    };
    if (delay <= 0) return act();
    counters.delayed++;
    hold(res, delay, act, next);
  };

  const control = (req: IncomingMessage, res: ServerResponse): void => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const payload = JSON.stringify(body);
      res.writeHead(status, { 'content-type': status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store', ...headers });
      res.end(payload);
    };
    const refuse = (code: ErrorCode, detail: string, extra: { errors?: SpecIssue[]; headers?: Record<string, string> } = {}) => {
      const requestId = req.headers['x-request-id'];
      const body = problem(code, { detail, instance: FAULT_CONTROL_PATH, errors: extra.errors, requestId: typeof requestId === 'string' ? requestId : undefined });
      send(body.status, body, extra.headers);
    };
    // Only from this machine: even where it is enabled, nobody elsewhere may break the service.
    if (!isLoopback(req.socket.remoteAddress)) return refuse('FORBIDDEN', 'Fault control answers only clients on this machine');
    switch (req.method) {
      case 'GET':
        return send(200, status());
      case 'DELETE':
        end('cleared');
        return send(200, status());
      case 'PUT':
        readBody(req).then(
          (text) => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              return refuse('MALFORMED_BODY', 'The body must be a JSON fault spec');
            }
            try {
              set(parsed as FaultSpec);
            } catch (error) {
              if (error instanceof FaultSpecError) return refuse('VALIDATION_FAILED', error.message, { errors: error.errors });
              log?.warn({ err: error }, 'fault injection: setting the fault failed');
              return refuse('INTERNAL_ERROR', 'The fault could not be set');
            }
            send(200, status());
          },
          (error: Error) => {
            if (error instanceof BodyTooLarge) return refuse('PAYLOAD_TOO_LARGE', `A fault spec is at most ${MAX_BODY_BYTES} bytes`, { headers: { connection: 'close' } });
            // The client went away mid-body: nobody to answer.
            res.destroy();
          },
        );
        return;
      default:
        return refuse('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${FAULT_CONTROL_PATH}`, { headers: { allow: 'GET, PUT, DELETE' } });
    }
  };

  return { around, set, clear: () => end('cleared'), status };
}

const FAULT_STATUS_OF: Record<string, number> = Object.fromEntries(Object.entries(FAULT_ERROR_CODES).map(([status, code]) => [code, Number(status)]));

/** Whether a peer address is this machine's loopback (IPv4, IPv6 or IPv4-mapped): the only clients fault control answers. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------
// The client: what `npm run chaos` and the tests use.

/** A control request a service refused or could not take; `problem` is its answer, when it gave one. */
export class FaultControlError extends Error {
  readonly status: number | undefined;
  readonly problem: Problem | undefined;

  constructor(message: string, options: { status?: number; problem?: Problem; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'FaultControlError';
    this.status = options.status;
    this.problem = options.problem;
  }
}

const CONTROL_TIMEOUT_MS = 10_000;

/** How a control request is made: `timeoutMs` bounds the whole exchange (default 10 s). */
export interface FaultControlOptions {
  timeoutMs?: number;
}

async function controlRequest(baseUrl: string, method: 'GET' | 'PUT' | 'DELETE', spec?: FaultSpec, options: FaultControlOptions = {}): Promise<FaultStatus> {
  const url = new URL(FAULT_CONTROL_PATH, baseUrl);
  const where = url.origin;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { accept: 'application/json', ...(spec ? { 'content-type': 'application/json' } : {}) },
      ...(spec ? { body: JSON.stringify(spec) } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? CONTROL_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? 'it did not answer in time' : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
    throw new FaultControlError(`cannot reach ${where}: ${reason}`, { cause: error });
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok && isFaultStatus(body)) return body;
  const problemBody = body && typeof body === 'object' && 'code' in body ? (body as Problem) : undefined;
  // Where it is enabled the endpoint always exists: a 404 is the service without it.
  if (response.status === 404) {
    throw new FaultControlError(`fault injection is not enabled at ${where} (it needs FAULT_INJECTION=true)`, { status: 404, ...(problemBody ? { problem: problemBody } : {}) });
  }
  if (response.ok) throw new FaultControlError(`${where} did not answer with a fault status: fault injection is not enabled there (it needs FAULT_INJECTION=true)`, { status: response.status });
  const detail = problemBody ? `${problemBody.title}${problemBody.detail ? `: ${problemBody.detail}` : ''} [${problemBody.code}, HTTP ${response.status}]` : `HTTP ${response.status}`;
  throw new FaultControlError(`${where} refused: ${detail}`, { status: response.status, ...(problemBody ? { problem: problemBody } : {}) });
}

function isFaultStatus(body: unknown): body is FaultStatus {
  if (typeof body !== 'object' || body === null) return false;
  const status = body as Partial<FaultStatus>;
  return typeof status.service === 'string' && typeof status.enabled === 'boolean' && typeof status.counters === 'object' && status.counters !== null;
}

/** Sets (replaces) the fault of the service at `baseUrl`; resolves with its status. */
export function setFault(baseUrl: string, spec: FaultSpec, options?: FaultControlOptions): Promise<FaultStatus> {
  return controlRequest(baseUrl, 'PUT', spec, options);
}

/** Ends the fault of the service at `baseUrl` (held requests go through); resolves with its status. */
export function clearFault(baseUrl: string, options?: FaultControlOptions): Promise<FaultStatus> {
  return controlRequest(baseUrl, 'DELETE', undefined, options);
}

/** The fault of the service at `baseUrl`, its counters and what it holds. */
export function faultStatus(baseUrl: string, options?: FaultControlOptions): Promise<FaultStatus> {
  return controlRequest(baseUrl, 'GET', undefined, options);
}
