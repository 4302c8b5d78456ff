import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, PROBLEM_CONTENT_TYPE, bearerToken, problem, propagationHeaders, type VerifyAccessToken } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';
import type { FastifyBaseLogger } from 'fastify';
import type { Histogram } from 'prom-client';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { apiSecurityHeaders, corsHeaders, hopByHop } from '../edge/headers.ts';
import type { RateLimit } from '../edge/rate-limit.ts';
import type { RouteEntry, Upstream } from './upstreams.ts';
import type { ServiceName } from '@bazaar/topology';

export interface DataPlaneOptions {
  routes: readonly RouteEntry[];
  upstreams: ReadonlyMap<ServiceName, Upstream>;
  verifyAccessToken: VerifyAccessToken;
  rateLimit: RateLimit;
  corsOrigins: ReadonlySet<string>;
  bodyLimit: number;
  duration: Histogram<'method' | 'route' | 'status_code'>;
  log: FastifyBaseLogger;
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
    const url = req.url!;
    let entry: RouteEntry | undefined;
    for (const candidate of routes) {
      if (url.startsWith(candidate.prefix) && (url.length === candidate.prefix.length || url[candidate.prefix.length] === '/' || url[candidate.prefix.length] === '?')) {
        entry = candidate;
        break;
      }
    }
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
  try {
    const decision = await options.rateLimit(req.socket.remoteAddress ?? 'unknown');
    Object.assign(edgeHeaders, decision.headers);
    if (!decision.allowed) throw new AppError('RATE_LIMITED', 'Slow down: too many requests from this address');

    // A present token is verified here; the service verifies it again and decides what needs one.
    const token = bearerToken(req.headers.authorization);
    if (token) await options.verifyAccessToken(token);

    const body = await readBody(req, options.bodyLimit);
    status = await forward(upstream, req, res, body, edgeHeaders);
  } catch (error) {
    status = answerWithProblem(req, res, error, upstream, edgeHeaders);
  } finally {
    const ms = performance.now() - started;
    options.duration.observe({ method: req.method!, route: `${entry.prefix}/*`, status_code: String(status || res.statusCode) }, ms / 1000);
    options.log.info({ requestId, method: req.method, path: req.url!.split('?')[0], upstream: entry.service, status: status || res.statusCode, ms: Math.round(ms * 100) / 100 }, 'request completed');
  }
}

/** The request body, whole, or a 413 when it is larger than allowed. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return undefined;
  if (declared !== undefined && Number(declared) > limit) {
    throw new AppError('PAYLOAD_TOO_LARGE', `The body may be at most ${limit} bytes`, { headers: { connection: 'close' } });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError('PAYLOAD_TOO_LARGE', `The body may be at most ${limit} bytes`, { headers: { connection: 'close' } });
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
  const client = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = raw['x-forwarded-for'] ? `${raw['x-forwarded-for']}, ${client}` : client;
  headers['x-forwarded-proto'] = 'http';
  if (raw.host) headers['x-forwarded-host'] = raw.host;
  return propagationHeaders(headers);
}

/** Streams the upstream's answer straight into the client's response; returns its status. */
async function forward(upstream: Upstream, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, edgeHeaders: Record<string, string>): Promise<number> {
  let status = 0;
  await upstream.pool.stream(
    { method: req.method as Dispatcher.HttpMethod, path: req.url!, headers: upstreamHeaders(req), body },
    ({ statusCode, headers }) => {
      status = statusCode;
      const out: Record<string, string | string[]> = {};
      for (const name in headers) {
        if (hopByHop.has(name) && name !== 'content-length') continue;
        const value = headers[name];
        if (value !== undefined) out[name] = value;
      }
      Object.assign(out, edgeHeaders);
      res.writeHead(statusCode, out);
      return res;
    },
  );
  return status;
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

function upstreamFailure(upstream: Upstream, error: unknown): AppError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new AppError('UPSTREAM_TIMEOUT', `${upstream.service} did not answer in time`, { cause: error });
  }
  return new AppError('UPSTREAM_UNAVAILABLE', `${upstream.service} could not be reached`, { headers: { 'retry-after': '1' }, cause: error });
}
