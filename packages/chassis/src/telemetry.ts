import { context, propagation, trace, SpanKind, SpanStatusCode, TraceFlags, type Span, type Context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { withRequestContext, type RequestContext } from './request-context.ts';

export interface TelemetryOptions {
  serviceName: string;
  /** OTLP/HTTP endpoint. Without one, spans are not recorded, but trace ids still reach logs and propagate. */
  otlpEndpoint?: string | undefined;
  /** How long finished spans wait to be exported together (the SDK's default 5 s; the local trace console uses 1 s). */
  exportDelayMs?: number | undefined;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  spanProcessors?: SpanProcessor[];
  /** Which traces are recorded when spans are exported (`OTEL_TRACES_SAMPLER`); every one by default. */
  sampler?: TraceSamplerName | undefined;
  /** The share of new traces a ratio sampler records (`OTEL_TRACES_SAMPLER_ARG`, 0–1; 1 by default). */
  samplerRatio?: number | undefined;
}

/** OpenTelemetry's head samplers, by the names its `OTEL_TRACES_SAMPLER` variable uses. */
export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type TraceSamplerName = (typeof TRACE_SAMPLERS)[number];

/**
 * The sampler `OTEL_TRACES_SAMPLER` names, as the OpenTelemetry SDK specification defines
 * them: `parentbased_*` follow a caller's decision (its `traceparent` flag) and decide
 * only for traces that start here; a ratio sampler decides by the trace id, so every
 * service that starts a trace with the same ratio keeps or drops it alike.
 */
export function samplerFor(name: TraceSamplerName = 'parentbased_always_on', ratio = 1): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

let installed: Telemetry | undefined;

/**
 * Installs the global tracer provider, W3C trace-context propagation and the
 * async-local context manager. Idempotent per process: the first call wins.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (installed) return installed;
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: new URL('/v1/traces', options.otlpEndpoint).toString() }),
        ...(options.exportDelayMs === undefined ? {} : { scheduledDelayMillis: options.exportDelayMs }),
      }),
    );
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    // Nobody collects spans without an exporter: keep ids and propagation (logs still carry
    // trace ids, traceparent still flows) but skip recording.
    sampler: processors.length > 0 ? samplerFor(options.sampler, options.samplerRatio) : new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  chassisTracer = provider.getTracer('@bazaar/chassis');
  installed = { shutdown: () => provider.shutdown() };
  return installed;
}

/** The installed provider's tracer, looked up once (the SDK builds a key string on every `getTracer`); before installation, the global proxy's. */
let chassisTracer: Tracer | undefined;
export const tracer = (): Tracer => chassisTracer ?? trace.getTracer('@bazaar/chassis');

const headerGetter = {
  keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier),
  get: (carrier: IncomingHttpHeaders, key: string) => carrier[key],
};

/**
 * Runs `handle` inside a server span continued from the caller's `traceparent`,
 * with the request's context (correlation id) attached. The span ends when the
 * response has been written. A recorded span is named to the caller in the
 * answer's `traceresponse` header.
 */
export function withServerSpan(req: IncomingMessage, res: ServerResponse, request: RequestContext, handle: (span: Span) => void): void {
  const root = context.active();
  const parent = req.headers.traceparent === undefined ? root : propagation.extract(root, req.headers, headerGetter);
  const span = tracer().startSpan(req.method ?? 'GET', { kind: SpanKind.SERVER }, parent);
  if (span.isRecording()) {
    span.setAttributes({ 'http.request.method': req.method ?? '', 'url.path': (req.url ?? '').split('?')[0] ?? '' });
    // W3C Trace Context Level 2: the caller learns which trace its request is, to look it up.
    const { traceId, spanId } = span.spanContext();
    res.setHeader('traceresponse', `00-${traceId}-${spanId}-01`);
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
  }
  context.with(withRequestContext(trace.setSpan(parent, span), request), () => handle(span));
}

/**
 * Names the active server span after the route that took the request
 * (`POST /api/orders/:id/cancel`, and `http.route`), once the router knows it: a
 * name that says what ran, with the low cardinality trace backends want.
 */
export function nameServerSpan(method: string, route: string): void {
  const span = trace.getSpan(context.active());
  if (!span?.isRecording()) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}

/**
 * Runs `fn` outside any trace, for background work nobody asked for (a periodic
 * refresh, a probe): inside, the active span is one that is not sampled, so no span
 * is recorded here, and calls made from it carry `traceparent` with the sampled flag
 * off, so the services they reach record none either (their sampler follows the
 * caller's decision). `suppressTracing` would not do: the propagator then sends no
 * `traceparent` at all, and each service called starts a root trace of its own.
 */
export function untraced<T>(fn: () => T): T {
  const unsampled = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.NONE };
  return context.with(trace.setSpanContext(context.active(), unsampled), fn);
}

/** Adds `traceparent` (and `tracestate`) for the active span to an outgoing header set. */
export function injectTraceContext(headers: Record<string, string>, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/** Trace and span id of the active span, for log lines. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return undefined;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}
