import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AppError, CALLER_HEADER, PROBLEM_CONTENT_TYPE, bearerToken, nameServerSpan, problem, propagationHeaders, withoutStackTrace, type Attempt, type UpstreamClient, type VerifyAccessToken } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';
import type { FastifyBaseLogger } from 'fastify';
import type { Histogram } from 'prom-client';
import type { Dispatcher } from 'undici';
import { apiSecurityHeaders, corsHeaders, hopByHop } from '../edge/headers.ts';
import { rateLimitExceeded, type RateLimiter } from '../edge/rate-limit.ts';
import type { CachedResponse, ResponseCache } from '../edge/response-cache.ts';
import { routeFor, type RouteEntry, type ServiceName } from '@bazaar/topology';

export interface DataPlaneOptions {
  routes: readonly RouteEntry[];
  upstreams: ReadonlyMap<ServiceName, UpstreamClient>;
  verifyAccessToken: VerifyAccessToken;
  rateLimiter: RateLimiter;
  corsOrigins: ReadonlySet<string>;
  bodyLimit: number;
  duration: Histogram<'method' | 'route' | 'status_code'>;
  log: FastifyBaseLogger;
  /**
   * Which proxied requests get an access-log line: `all`, or only `errors` (status
   * ≥ 400, upstream failures) and requests slower than `slowMs`. Every request is
   * counted in metrics and traced either way, and each service logs its own.
   */
  accessLog: 'all' | 'errors';
  slowMs: number;
  /** Deadline for an upstream's answer (its headers, for a stream). */
  timeoutMs: number;
  /** Public catalog reads served from memory (absent: no cache). */
  cache?: ResponseCache | undefined;
}

/** What a data plane keeps between requests. */
interface Plane {
  /** Each service prefix's route as spans and metrics name it (`/api/orders/*`), made once. */
  routeNames: ReadonlyMap<string, string>;
  deadlines: Deadlines;
  durations: Durations;
}

/**
 * OPTIONS stays at the edge (CORS preflight); every other method the HTTP parser
 * accepts goes to the service that owns the path, which knows its methods and
 * answers one it lacks with 405 and `Allow`.
 */
const EDGE_METHODS = new Set(['OPTIONS']);

/**
 * The gateway's hot path, below the framework: for every `/api/<service>/…`
 * request it applies the edge policies (rate limit, token verification, body
 * limit, CORS and security headers), forwards the request over a keep-alive pool
 * and streams the answer back. Everything else (docs, probes, metrics, CORS
 * preflight, unknown routes) falls through to Fastify.
 */
export function createDataPlane(options: DataPlaneOptions) {
  const routes = options.routes;
  const plane: Plane = {
    routeNames: new Map(routes.map((route) => [route.prefix, `${route.prefix}/*`])),
    deadlines: new Deadlines(options.timeoutMs),
    durations: new Durations(options.duration),
  };

  return (req: IncomingMessage, res: ServerResponse, requestId: string): boolean => {
    if (EDGE_METHODS.has(req.method!)) return false;
    const entry = routeFor(req.url!, routes);
    if (!entry) return false;
    void proxy(req, res, requestId, entry, options, plane);
    return true;
  };
}

async function proxy(req: IncomingMessage, res: ServerResponse, requestId: string, entry: RouteEntry, options: DataPlaneOptions, plane: Plane): Promise<void> {
  const started = performance.now();
  // The gateway knows the service's prefix, not its route: the service's own span names that.
  nameServerSpan(req.method!, plane.routeNames.get(entry.prefix)!);
  const upstream = options.upstreams.get(entry.service)!;
  const edgeHeaders: Record<string, string> = { ...apiSecurityHeaders, 'x-request-id': requestId };
  const cors = corsHeaders(req.headers.origin, options.corsOrigins);
  if (cors) Object.assign(edgeHeaders, cors);
  let status = 0;
  let failure: string | undefined;
  try {
    // A present token is verified here (the service verifies it again and decides what needs one),
    // first, so the user's own budget applies; a bad token still spends the address's budget.
    let user: string | undefined;
    let refused: unknown;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      // A token verified a moment ago is known as it is: no parse, no promise. Only a
      // string that passed the syntax check and the verifier can be remembered.
      const verify = options.verifyAccessToken;
      user = authorization.startsWith('Bearer ') ? verify.remembered?.(authorization.slice(7))?.userId : undefined;
      if (user === undefined) {
        try {
          const token = bearerToken(authorization);
          if (token) user = (await verify(token)).userId;
        } catch (error) {
          refused = error;
        }
      }
    }
    const decision = await options.rateLimiter.check(user ? { ip: req.socket.remoteAddress ?? 'unknown', user } : { ip: req.socket.remoteAddress ?? 'unknown' });
    Object.assign(edgeHeaders, decision.headers);
    if (!decision.allowed) throw rateLimitExceeded(decision.refusedBy);
    if (refused) throw refused;

    const cache = options.cache;
    const cacheKey = cache?.keyFor(req.method!, req.url!, req.headers);
    let store: ((response: CachedResponse) => void) | undefined;
    if (cacheKey) {
      // `Cache-Control: no-cache` from the client asks for a fresh answer (RFC 9111 §5.2.1.4); it is stored all the same.
      const hit = wantsFresh(req) ? undefined : cache!.get(cacheKey);
      if (hit) {
        status = serveCached(req, res, hit, edgeHeaders);
        return;
      }
      edgeHeaders['x-cache'] = 'MISS';
      store = (response) => cache!.set(cacheKey, response);
    }

    const body = hasBody(req) ? await readBody(req, options.bodyLimit) : undefined;
    status = await forward(upstream, req, res, body, edgeHeaders, plane.deadlines, store);
  } catch (error) {
    if (!(error instanceof AppError)) failure = (error as Error).message;
    status = answerWithProblem(req, res, error, entry.service, edgeHeaders);
  } finally {
    const ms = performance.now() - started;
    const answered = status || res.statusCode;
    plane.durations.of(entry, req.method!, answered).observe(ms / 1000);
    if (failure || options.accessLog === 'all' || answered >= 400 || ms >= options.slowMs) {
      const line = { requestId, method: req.method, path: req.url!.split('?')[0], upstream: entry.service, status: answered, ms: Math.round(ms * 100) / 100 };
      if (failure) options.log.warn({ ...line, failure }, 'upstream call failed');
      else options.log.info(line, 'request completed');
    }
  }
}

type DurationChild = ReturnType<Histogram<'method' | 'route' | 'status_code'>['labels']>;

/** The request-duration histogram's children by route, method and status: found without building a key per request (prom-client hashes labels on every call otherwise). */
class Durations {
  private readonly histogram: Histogram<'method' | 'route' | 'status_code'>;
  private readonly children = new Map<RouteEntry, Map<string, Map<number, DurationChild>>>();

  constructor(histogram: Histogram<'method' | 'route' | 'status_code'>) {
    this.histogram = histogram;
  }

  of(entry: RouteEntry, method: string, status: number): DurationChild {
    let byMethod = this.children.get(entry);
    if (!byMethod) this.children.set(entry, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (!child) byStatus.set(status, (child = this.histogram.labels({ method, route: `${entry.prefix}/*`, status_code: String(status) })));
    return child;
  }
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/**
 * How much of a refused body the gateway still reads, and for how long, discarding it:
 * a client that writes its whole body before reading (most do) can finish and read the
 * 413 instead of meeting a closed socket (EPIPE, or a reset that loses the answer), and
 * the connection is reused after it. Beyond either bound the connection is closed.
 */
const DISCARD_BYTES = 8 * 1024 * 1024;
const DISCARD_MS = 5_000;

function discardRefusedBody(req: IncomingMessage): void {
  let seen = 0;
  const timer = setTimeout(() => req.socket.destroy(), DISCARD_MS);
  timer.unref();
  const settle = () => clearTimeout(timer);
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen <= DISCARD_BYTES) return;
    settle();
    req.socket.destroy();
  });
  req.once('end', settle);
  req.once('close', settle);
}

/**
 * The request body, whole, or a 413 as soon as it is known to be larger than allowed:
 * from its declared length, or mid-way through a streamed (chunked) one. Either way the
 * rest is discarded within bounds, so the client reads the answer and keeps the connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `The body may be at most ${limit} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    discardRefusedBody(req);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      discardRefusedBody(req);
      reject(tooLarge());
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => onError(new Error('the client closed the connection before its body ended'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

function upstreamHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  const raw = req.headers;
  for (const name in raw) {
    if (hopByHop.has(name)) continue;
    const value = raw[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // The gateway is the edge: what a client claims in X-Forwarded-For is not passed on,
  // so services behind it (which trust the gateway) see the real peer address.
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  headers['x-forwarded-proto'] = 'http';
  // Who is calling, for fault injection scoped by caller (`npm run chaos -- --from gateway`); a client cannot claim it.
  headers[CALLER_HEADER] = 'gateway';
  if (raw.host) headers['x-forwarded-host'] = raw.host;
  return propagationHeaders(headers);
}

/** Answers up to this size are sent in one write together with the headers; larger ones stream. */
const BUFFERED_BODY_LIMIT = 64 * 1024;

/** GET and HEAD are the only requests the gateway retries (it cannot know that anything else is idempotent). */
function retryable(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

/**
 * What one attempt came to. A 2xx–4xx answer is relayed to the client as it
 * arrives (`relayed`); a 5xx is held back whole, so the policies may retry it on
 * another instance and only the last one reaches the client. A streamed answer
 * (large or open-ended, e.g. server-sent events) resolves the attempt at its
 * headers: only the wait for them is on the deadline and in the bulkhead; `done`
 * settles when the stream ends.
 */
interface AttemptOutcome {
  status: number;
  relayed: boolean;
  heldBack?: { headers: Record<string, string | string[]>; body: Buffer };
  done?: Promise<void>;
}

const heldBack = (outcome: AttemptOutcome) => !outcome.relayed;

/**
 * Sends the request upstream under the service's policies (breaker, bulkhead,
 * deadline, retries for GET/HEAD on another instance) and the answer to the
 * client; resolves with the status once the answer is complete.
 */
async function forward(
  upstream: UpstreamClient,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
  edgeHeaders: Record<string, string>,
  deadlines: Deadlines,
  store?: (response: CachedResponse) => void,
): Promise<number> {
  const request: Dispatcher.DispatchOptions = { method: req.method as Dispatcher.HttpMethod, path: req.url!, headers: upstreamHeaders(req), body: body ?? null };
  const outcome = await upstream.execute((attempt) => dispatchAttempt(attempt, request, res, edgeHeaders, deadlines, store), {
    idempotent: retryable(req.method),
    isFailure: heldBack,
    timeoutMs: deadlines.timeoutMs,
    ownDeadline: true,
  });
  if (outcome.heldBack) {
    const { headers, body: payload } = outcome.heldBack;
    res.writeHead(outcome.status, headers);
    res.end(payload);
  }
  if (outcome.done) await outcome.done;
  return outcome.status;
}

/** One attempt on one instance, over undici's dispatch API (no intermediate stream objects on the hot path). */
function dispatchAttempt(
  attempt: Attempt,
  request: Dispatcher.DispatchOptions,
  res: ServerResponse,
  edgeHeaders: Record<string, string>,
  deadlines: Deadlines,
  store: ((response: CachedResponse) => void) | undefined,
): Promise<AttemptOutcome> {
  return new Promise((resolve, reject) => {
    attempt.pool.dispatch(request, new UpstreamAnswer(res, edgeHeaders, deadlines, resolve, reject, store));
  });
}

/**
 * The deadlines of attempts waiting for their answer's headers (a stream may idle
 * after them). Not undici's headersTimeout: undici's timers tick every half
 * second, so when a dependency stalls, every request that arrived in that half
 * second times out in the same tick — a burst of aborted sockets and error answers
 * that stalls the gateway's event loop for unrelated routes too (bench:resilience
 * measured it). Each attempt times out at its own deadline, as the requests came.
 *
 * Every attempt gets the same time, so deadlines fall in the order attempts start:
 * a list in that order, with one timer for its head, costs two links per attempt
 * instead of a timer object set and cleared per attempt.
 */
class Deadlines {
  readonly timeoutMs: number;
  private head: UpstreamAnswer | undefined;
  private tail: UpstreamAnswer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly expire = () => this.expireDue();

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  add(answer: UpstreamAnswer): void {
    answer.deadline = performance.now() + this.timeoutMs;
    answer.previous = this.tail;
    if (this.tail) this.tail.next = answer;
    else this.head = answer;
    this.tail = answer;
    // The timer stays set while the list empties and fills: it finds the new head when it fires.
    this.timer ??= setTimeout(this.expire, this.timeoutMs).unref();
  }

  remove(answer: UpstreamAnswer): void {
    if (answer.deadline === 0) return;
    answer.deadline = 0;
    const { previous, next } = answer;
    if (previous) previous.next = next;
    else this.head = next;
    if (next) next.previous = previous;
    else this.tail = previous;
    answer.previous = answer.next = undefined;
  }

  private expireDue(): void {
    this.timer = undefined;
    const now = performance.now();
    let answer = this.head;
    while (answer && answer.deadline <= now) {
      this.remove(answer);
      answer.timedOut();
      answer = this.head;
    }
    if (answer) this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(answer.deadline - now))).unref();
  }
}

function wantsFresh(req: IncomingMessage): boolean {
  const directives = req.headers['cache-control'];
  return directives !== undefined && /no-cache|no-store|max-age=0/i.test(directives);
}

/** A cached answer, with this request's own edge headers (request id, CORS, rate limit). */
function serveCached(req: IncomingMessage, res: ServerResponse, cached: CachedResponse, edgeHeaders: Record<string, string>): number {
  const age = String(Math.floor((Date.now() - cached.storedAt) / 1000));
  const etag = cached.headers['etag'];
  if (typeof etag === 'string' && noneMatch(req.headers['if-none-match'], etag)) {
    // The client has this version (RFC 9110 §13.1.2): 304 with the validator and caching headers a 200 would carry, no body.
    const headers: Record<string, string | string[]> = { ...edgeHeaders, etag, 'x-cache': 'HIT', age };
    for (const name of NOT_MODIFIED_HEADERS) {
      const value = cached.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    res.writeHead(304, headers);
    res.end();
    return 304;
  }
  res.writeHead(cached.status, { ...cached.headers, ...edgeHeaders, 'x-cache': 'HIT', age });
  res.end(cached.body);
  return cached.status;
}

/** Headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5). */
const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'expires', 'vary'] as const;

/** Whether `If-None-Match` names `etag` (weak comparison, as the condition asks) or is `*`. */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  const wanted = opaque(etag);
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || opaque(trimmed) === wanted;
  });
}

/** Relays one upstream answer to the client (a class, not a per-request object of closures: less garbage on the hot path). */
class UpstreamAnswer implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private buffered: Buffer[] | undefined;
  private streaming: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly res: ServerResponse;
  private readonly edgeHeaders: Record<string, string>;
  private readonly resolve: (outcome: AttemptOutcome) => void;
  private readonly reject: (error: Error) => void;
  private readonly store: ((response: CachedResponse) => void) | undefined;
  private readonly deadlines: Deadlines;
  private controller: Dispatcher.DispatchController | undefined;
  private upstreamHeaders: Record<string, string | string[]> | undefined;
  /** When the answer's headers are due (performance.now() ms); 0 when not waiting for them. */
  deadline = 0;
  /** Neighbours in the list of deadlines. */
  previous: UpstreamAnswer | undefined;
  next: UpstreamAnswer | undefined;

  constructor(
    res: ServerResponse,
    edgeHeaders: Record<string, string>,
    deadlines: Deadlines,
    resolve: (outcome: AttemptOutcome) => void,
    reject: (error: Error) => void,
    store?: (response: CachedResponse) => void,
  ) {
    this.res = res;
    this.edgeHeaders = edgeHeaders;
    this.resolve = resolve;
    this.reject = reject;
    this.store = store;
    this.deadlines = deadlines;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.deadlines.add(this);
  }

  /**
   * No answer's headers in time: the attempt is aborted (and fails with a TimeoutError).
   * The error has no stack trace: it would only show the timer, and tearing the socket
   * down formats the stack of the error it is given — for every request held by a
   * stalled dependency, in the second their deadlines fall (bench:resilience profile).
   */
  timedOut(): void {
    const error = withoutStackTrace(() => new Error('no answer in time'));
    error.name = 'TimeoutError';
    this.controller!.abort(error);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.deadlines.remove(this);
    this.status = statusCode;
    const out = this.headers;
    for (const name in headers) {
      if (hopByHop.has(name) && name !== 'content-length') continue;
      const value = headers[name];
      if (value !== undefined) out[name] = value;
    }
    // What the cache keeps is the upstream's answer; edge headers belong to each request.
    if (this.store && statusCode === 200) this.upstreamHeaders = { ...out };
    Object.assign(out, this.edgeHeaders);
    if (statusCode >= 500 || Number(headers['content-length']) <= BUFFERED_BODY_LIMIT) {
      this.buffered = [];
      return;
    }
    const res = this.res;
    res.writeHead(statusCode, out);
    res.on('drain', () => controller.resume());
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client went away'));
    });
    const done = new Promise<void>((resolve, reject) => (this.streaming = { resolve, reject }));
    this.resolve({ status: statusCode, relayed: true, done });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.buffered) this.buffered.push(chunk);
    else if (!this.res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    const buffered = this.buffered;
    if (!buffered) {
      this.res.end();
      this.streaming?.resolve();
      return;
    }
    const body = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered);
    if (this.status >= 500) {
      this.resolve({ status: this.status, relayed: false, heldBack: { headers: this.headers, body } });
      return;
    }
    this.res.writeHead(this.status, this.headers);
    this.res.end(asSingleWrite(body));
    if (this.upstreamHeaders) this.store!({ status: this.status, headers: this.upstreamHeaders, body, storedAt: 0 });
    this.resolve({ status: this.status, relayed: true });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.deadlines.remove(this);
    if (this.streaming) this.streaming.reject(error);
    else this.reject(error);
  }
}

/**
 * Node sends headers plus a Buffer body as one writev of two chunks, but appends a
 * string body to the headers and sends one plain write: about 15 % less gateway CPU
 * per small answer in the profile (see docs/benchmarks.md). Only valid UTF-8 is
 * turned into a string, so the bytes on the wire are exactly the upstream's.
 */
function asSingleWrite(payload: Buffer): Buffer | string {
  return payload.length <= 16_384 && isUtf8(payload) ? payload.toString('utf8') : payload;
}

function answerWithProblem(req: IncomingMessage, res: ServerResponse, error: unknown, service: ServiceName, edgeHeaders: Record<string, string>): number {
  const failure = error instanceof AppError ? error : new AppError('UPSTREAM_UNAVAILABLE', `${service} failed mid-answer`, { cause: error });
  if (res.headersSent) {
    // The upstream failed mid-answer: all we can do is cut the response short.
    res.destroy();
    return res.statusCode;
  }
  const code: ErrorCode = failure.code;
  const document = problem(code, { detail: failure.detail, instance: req.url!.split('?')[0], requestId: edgeHeaders['x-request-id'] });
  const payload = JSON.stringify(document);
  res.writeHead(document.status, {
    ...edgeHeaders,
    ...failure.headers,
    'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
    'content-length': String(Buffer.byteLength(payload)),
  });
  // With `connection: close` (a streamed body refused mid-way) Node closes the socket after this answer.
  res.end(payload);
  return document.status;
}
