/**
 * The local trace console that `npm start` runs beside the system: an OTLP/HTTP
 * (JSON) receiver every service exports its spans to, and a page that lists the
 * recent traces and draws each as a waterfall across services, HTTP and the broker.
 * In production, services export to a real collector (Jaeger, Tempo…) instead.
 *
 *   POST /v1/traces            OTLP/HTTP JSON (gzip or not); protobuf is refused with 415
 *   GET  /api/traces           recent traces: ?service=<name>&limit=<1..500>
 *   GET  /api/traces/:traceId  one trace's spans
 *   GET  /api/services         every service seen
 *   GET  /                     the page
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { AppError, ROUTER_OPTIONS, answerClientError, answerFrameworkError, installProblemHandlers } from '@bazaar/chassis';
import { MalformedTraces, TraceStore, type TraceStoreOptions } from './trace-store.ts';

/** An export batch of a busy second stays far below this; more is a mistake. */
const BODY_LIMIT = 16 * 1024 * 1024;

const TRACE_ID = { type: 'string', pattern: '^[0-9a-fA-F]{32}$' } as const;

export async function createTraceConsole(options: TraceStoreOptions = {}): Promise<{ app: FastifyInstance; store: TraceStore }> {
  const store = new TraceStore(options);
  const page = await readFile(new URL('./page.html', import.meta.url), 'utf8');
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, routerOptions: ROUTER_OPTIONS, frameworkErrors: answerFrameworkError, clientErrorHandler: answerClientError });
  installProblemHandlers(app);

  // OTLP/HTTP JSON, compressed or not; the body is parsed here so a gzip body is too.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    try {
      const raw = request.headers['content-encoding'] === 'gzip' ? gunzipSync(body, { maxOutputLength: BODY_LIMIT }) : body;
      done(null, JSON.parse(raw.toString('utf8')));
    } catch {
      done(new AppError('MALFORMED_BODY', 'The body is not JSON (or not valid gzip)'), undefined);
    }
  });

  app.post('/v1/traces', async (request) => {
    try {
      store.ingest(request.body);
    } catch (error) {
      if (error instanceof MalformedTraces) throw new AppError('VALIDATION_FAILED', error.message);
      throw error;
    }
    // OTLP's ExportTraceServiceResponse: an empty object is full success.
    return {};
  });

  app.get(
    '/api/traces',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { service: { type: 'string', maxLength: 100 }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        },
      },
    },
    async (request) => {
      const query = request.query as { service?: string; limit: number };
      return { items: store.summaries({ service: query.service, limit: query.limit }), dropped: store.dropped };
    },
  );

  app.get('/api/traces/:traceId', { schema: { params: { type: 'object', properties: { traceId: TRACE_ID }, required: ['traceId'] } } }, async (request) => {
    const found = store.trace((request.params as { traceId: string }).traceId);
    if (!found) throw new AppError('NOT_FOUND', 'No such trace here (it may have been evicted: the console keeps the most recent ones)');
    return found;
  });

  app.get('/api/services', async () => ({ items: store.services() }));

  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
      .send(page),
  );

  return { app, store };
}

/** Starts the console on `port` (0: any free one) on loopback; answers its URL and how to stop it. */
export async function startTraceConsole(port: number, options: TraceStoreOptions = {}): Promise<{ url: string; store: TraceStore; close(): Promise<void> }> {
  const { app, store } = await createTraceConsole(options);
  const address = await app.listen({ port, host: '127.0.0.1' });
  return { url: address, store, close: () => app.close() };
}
