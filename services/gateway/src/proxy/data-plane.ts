import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AppError, PROBLEM_CONTENT_TYPE, bearerToken, problem, propagationHeaders, type VerifyAccessToken } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';
import type { FastifyBaseLogger } from 'fastify';
import type { Histogram } from 'prom-client';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { apiSecurityHeaders, corsHeaders, hopByHop } from '../edge/headers.ts';
import { rateLimitExceeded, type RateLimit } from '../edge/rate-limit.ts';
import type { Upstream } from './upstreams.ts';
import { routeFor, type RouteEntry, type ServiceName } from '@bazaar/topology';

export interface DataPlaneOptions {
  routes: readonly RouteEntry[];
  upstreams: ReadonlyMap<ServiceName, Upstream>;
  verifyAccessToken: VerifyAccessToken;
  rateLimit: RateLimit;
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
}

const proxiedMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The gateway's hot path, below the framework: for every `/api/<service>/…`
 * request it applies the edge policies (rate limit, token verification, body
 * limit, CORS and security headers), forwards the request over a keep-alive pool
 * and streams the answer back. Everything else (docs, probes, metrics, CORS
 * preflight, unknown routes) falls through to Fastify.
 */
export function createDataPlane(options: DataPlaneOptions) {
  const routes = options.routes;

  return (req: IncomingMessage, res: ServerResponse, requestId: string): boolean => {
    if (!proxiedMethods.has(req.method!)) return false;
    const entry = routeFor(req.url!, routes);
    if (!entry) return false;
    void proxy(req, res, requestId, entry, options);
    return true;
  };
}

async function proxy(req: IncomingMessage, res: ServerResponse, requestId: string, entry: RouteEntry, options: DataPlaneOptions): Promise<void> {
  const started = performance.now();
  const upstream = options.upstreams.get(entry.service)!;
  const edgeHeaders: Record<string, string> = { ...apiSecurityHeaders, 'x-request-id': requestId };
  const cors = corsHeaders(req.headers.origin, options.corsOrigins);
  if (cors) Object.assign(edgeHeaders, cors);
  let status = 0;
  let failure: string | undefined;
  try {
    const decision = await options.rateLimit(req.socket.remoteAddress ?? 'unknown');
    Object.assign(edgeHeaders, decision.headers);
    if (!decision.allowed) throw rateLimitExceeded();

    // A present token is verified here; the service verifies it again and decides what needs one.
    const token = bearerToken(req.headers.authorization);
    if (token) await options.verifyAccessToken(token);

    const body = hasBody(req) ? await readBody(req, options.bodyLimit) : undefined;
    status = await forward(upstream, req, res, body, edgeHeaders);
  } catch (error) {
    if (!(error instanceof AppError)) failure = (error as Error).message;
    status = answerWithProblem(req, res, error, upstream, edgeHeaders);
  } finally {
    const ms = performance.now() - started;
    const answered = status || res.statusCode;
    durationFor(options.duration, req.method!, entry.prefix, answered).observe(ms / 1000);
    if (failure || options.accessLog === 'all' || answered >= 400 || ms >= options.slowMs) {
      const line = { requestId, method: req.method, path: req.url!.split('?')[0], upstream: entry.service, status: answered, ms: Math.round(ms * 100) / 100 };
      if (failure) options.log.warn({ ...line, failure }, 'upstream call failed');
      else options.log.info(line, 'request completed');
    }
  }
}

const durationChildren = new Map<string, ReturnType<Histogram<'method' | 'route' | 'status_code'>['labels']>>();

/** The histogram child for one label set, looked up once (prom-client hashes labels on every call otherwise). */
function durationFor(histogram: Histogram<'method' | 'route' | 'status_code'>, method: string, prefix: string, status: number) {
  const key = `${method} ${prefix} ${status}`;
  let child = durationChildren.get(key);
  if (!child) {
    child = histogram.labels({ method, route: `${prefix}/*`, status_code: String(status) });
    durationChildren.set(key, child);
  }
  return child;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** The request body, whole, or a 413 as soon as it is known to be larger than allowed (declared or streamed). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  // The unread rest of a refused body must not be parsed as the next request: close the connection.
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `The body may be at most ${limit} bytes`, { headers: { connection: 'close' } });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
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
  if (raw.host) headers['x-forwarded-host'] = raw.host;
  return propagationHeaders(headers);
}

/** Answers up to this size are sent in one write together with the headers; larger ones stream. */
const BUFFERED_BODY_LIMIT = 64 * 1024;

/**
 * Sends the upstream's answer to the client; resolves with its status. Uses
 * undici's dispatch handler directly (no intermediate stream objects on the hot
 * path). A small answer with a declared length goes out as one write, headers and
 * body together; anything larger or open-ended (server-sent events) is streamed
 * with backpressure, and a client that goes away aborts the upstream call.
 */
function forward(upstream: Upstream, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, edgeHeaders: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    upstream.pool.dispatch(
      { method: req.method as Dispatcher.HttpMethod, path: req.url!, headers: upstreamHeaders(req), body: body ?? null },
      new UpstreamAnswer(res, edgeHeaders, resolve, reject),
    );
  });
}

/** Relays one upstream answer to the client (a class, not a per-request object of closures: less garbage on the hot path). */
class UpstreamAnswer implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private buffered: Buffer[] | undefined;
  private readonly res: ServerResponse;
  private readonly edgeHeaders: Record<string, string>;
  private readonly resolve: (status: number) => void;
  private readonly reject: (error: Error) => void;

  constructor(res: ServerResponse, edgeHeaders: Record<string, string>, resolve: (status: number) => void, reject: (error: Error) => void) {
    this.res = res;
    this.edgeHeaders = edgeHeaders;
    this.resolve = resolve;
    this.reject = reject;
  }

  onRequestStart(): void {}

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    const out = this.headers;
    for (const name in headers) {
      if (hopByHop.has(name) && name !== 'content-length') continue;
      const value = headers[name];
      if (value !== undefined) out[name] = value;
    }
    Object.assign(out, this.edgeHeaders);
    if (Number(headers['content-length']) <= BUFFERED_BODY_LIMIT) {
      this.buffered = [];
      return;
    }
    const res = this.res;
    res.writeHead(statusCode, out);
    res.on('drain', () => controller.resume());
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client went away'));
    });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.buffered) this.buffered.push(chunk);
    else if (!this.res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    const buffered = this.buffered;
    if (buffered) {
      this.res.writeHead(this.status, this.headers);
      this.res.end(asSingleWrite(buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered)));
    } else {
      this.res.end();
    }
    this.resolve(this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.reject(error);
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

function answerWithProblem(req: IncomingMessage, res: ServerResponse, error: unknown, upstream: Upstream, edgeHeaders: Record<string, string>): number {
  const failure = error instanceof AppError ? error : upstreamFailure(upstream, error);
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
    'content-length': Buffer.byteLength(payload),
  });
  // With `connection: close` (set when the body was refused) Node closes the socket after this answer.
  res.end(payload);
  return document.status;
}

/** The problem for an upstream call that failed: 504 when it did not answer in time, 502 otherwise. */
export function upstreamFailure(upstream: Pick<Upstream, 'service'>, error: unknown): AppError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new AppError('UPSTREAM_TIMEOUT', `${upstream.service} did not answer in time`, { cause: error });
  }
  return new AppError('UPSTREAM_UNAVAILABLE', `${upstream.service} could not be reached`, { headers: { 'retry-after': '1' }, cause: error });
}
