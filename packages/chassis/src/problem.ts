import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorCatalogue, problemType, type ErrorCode, type Problem } from '@bazaar/contracts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { indexRouteMethods } from './allowed-methods.ts';

/**
 * An error the service means to answer with: a catalogue code plus an optional
 * human-readable detail. Anything else thrown is an internal error and answers 500
 * without details.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: Problem['errors'];
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail?: string, options: { errors?: Problem['errors']; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(detail ?? errorCatalogue[code].title, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Builds the RFC 9457 document for `code`. */
export function problem(code: ErrorCode, extra: Partial<Omit<Problem, 'code' | 'status' | 'title' | 'type'>> = {}): Problem {
  const entry = errorCatalogue[code];
  return { type: problemType(code), title: entry.title, status: entry.status, code, ...stripUndefined(extra) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function sendProblem(reply: FastifyReply, code: ErrorCode, extra: Partial<Omit<Problem, 'code' | 'status' | 'title' | 'type'>> = {}): FastifyReply {
  const body = problem(code, { instance: reply.request.url.split('?')[0], requestId: String(reply.request.id), ...extra });
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Fastify's own error codes mapped onto the catalogue. */
const fastifyCodes: Partial<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'VALIDATION_FAILED',
  FST_ERR_NOT_FOUND: 'ROUTE_NOT_FOUND',
  FST_ERR_INVALID_URL: 'VALIDATION_FAILED',
};

function toProblemCode(error: FastifyError): ErrorCode {
  if (error.validation) return 'VALIDATION_FAILED';
  const mapped = fastifyCodes[error.code];
  if (mapped) return mapped;
  // JSON.parse errors surface as SyntaxError with status 400 from the content-type parser.
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) return 'MALFORMED_BODY';
  if (error.statusCode === 429) return 'RATE_LIMITED';
  if (error.statusCode === 413) return 'PAYLOAD_TOO_LARGE';
  if (error.statusCode === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (error.statusCode === 404) return 'ROUTE_NOT_FOUND';
  return 'INTERNAL_ERROR';
}

/** Socket errors of a connection that could not be made or was lost. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** PostgreSQL SQLSTATEs of a server that cannot serve now: shutting down, starting, out of connections, a statement over its timeout. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);

/**
 * A failure of the service's database (or another backing store) rather than of the
 * request or the code: unreachable, lost, shutting down, out of connections, too slow.
 * Answered 503 with Retry-After, as the readiness probe reports it too; not a 500.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (CONNECTION_ERRORS.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08'))) return true;
  // pg and pg-pool report a lost or never-made connection without a code.
  const message = error instanceof Error ? error.message : '';
  if (/^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message)) return true;
  return error instanceof AggregateError && error.errors.some(isStoreUnavailable);
}

/** Codes of refusals a policy makes to protect a dependency or the service itself. */
const SHED_LOAD: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UPSTREAM_CIRCUIT_OPEN', 'UPSTREAM_SATURATED']);

/** Installs the error and not-found handlers that turn everything into problem+json. */
export function installProblemHandlers(app: FastifyInstance): {
  /**
   * Answers a request no route takes (404, or 405 with Allow) in `onRequest`, before its
   * body is read: Fastify parses the body of a request bound for the not-found handler
   * like any other, so garbage sent to a path that does not exist would answer 400 or 415
   * (and a large body would be read whole) instead of 404. Call it after the hooks every
   * answer needs (the correlation id): hooks run in the order they are added.
   */
  answerNotFoundEarly: () => void;
} {
  const methodsOf = indexRouteMethods(app);
  app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) {
      // Shedding load on purpose (a breaker open, a bulkhead full) is an answer, not a fault: a
      // warning without a stack, or an outage would fill the log with one trace per refused request.
      if (SHED_LOAD.has(error.code)) request.log.warn({ code: error.code, detail: error.detail }, 'request refused: load shed');
      else if (error.status >= 500) request.log.error({ err: error }, 'request failed');
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return sendProblem(reply, error.code, { detail: error.detail, errors: error.errors });
    }
    if (isStoreUnavailable(error)) {
      request.log.error({ err: error }, 'request failed: database unavailable');
      reply.header('retry-after', '1');
      return sendProblem(reply, 'SERVICE_UNAVAILABLE', { detail: 'A database this service needs is unavailable; try again shortly' });
    }
    const code = toProblemCode(error);
    if (code === 'INTERNAL_ERROR') {
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, code);
    }
    request.log.info({ code, reason: error.message }, 'request rejected');
    if (code === 'VALIDATION_FAILED' && error.validation) {
      const errors = error.validation.map((issue) => ({
        path: `${error.validationContext ?? 'body'}${issue.instancePath || ''}`,
        message: issue.message ?? 'is invalid',
      }));
      return sendProblem(reply, code, { detail: errors.map((e) => `${e.path} ${e.message}`).join('; '), errors });
    }
    // The messages of Fastify's own client errors are safe and helpful ("Body cannot be empty...").
    return sendProblem(reply, code, { detail: code === 'RATE_LIMITED' ? undefined : error.message });
  });

  const answerNotFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0]!;
    const allowed = methodsOf(path);
    // A route of this very method that found nothing under its path (callNotFound) is a 404 too.
    if (allowed.length === 0 || allowed.includes(request.method)) return sendProblem(reply, 'ROUTE_NOT_FOUND', { detail: `${request.method} ${path} is not a route of this API` });
    reply.header('allow', allowed.join(', '));
    return sendProblem(reply, 'METHOD_NOT_ALLOWED', { detail: `${path} answers ${allowed.join(', ')}, not ${request.method}` });
  };
  app.setNotFoundHandler(answerNotFound);
  return {
    answerNotFoundEarly: () =>
      app.addHook('onRequest', (request, reply, done) => {
        if (!request.is404) return done();
        answerNotFound(request, reply);
      }),
  };
}

/**
 * Fastify's `frameworkErrors`: what its router refuses before any route or hook runs (a
 * path that is not valid percent-encoding, a path parameter longer than the router's
 * limit) would otherwise answer Fastify's own JSON, echoing the whole path. Here it
 * answers problem+json without echoing the path.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const code = toProblemCode(error);
  // No hook runs for these answers, the one that echoes the correlation id included.
  reply.header('x-request-id', request.id);
  reply.log.info({ code, reason: error.code }, 'request rejected by the router');
  const detail = code === 'URI_TOO_LONG' ? 'A segment of the path is longer than this API allows' : 'The path is not a valid URL (bad percent-encoding)';
  return sendProblem(reply, code, { detail, instance: undefined });
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before there is a request
 * (headers too large, a request line that is not HTTP, a request that took too long to
 * arrive). The answer is problem+json like every other, and the connection is closed, as
 * Node and Fastify do by default.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : error.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'MALFORMED_REQUEST';
  const body = JSON.stringify(problem(code));
  const status = errorCatalogue[code].status;
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** `make()`'s error without a stack trace: for refusals and deadlines that are answers, not bugs, where capturing (or, later, formatting) a stack costs more than the rest of the answer and would only show a timer or the policy code. */
export function withoutStackTrace<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
