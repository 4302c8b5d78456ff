/**
 * The local trace console's memory: spans as every service exports them (OTLP/HTTP
 * JSON), grouped by trace, the most recent traces kept. What a developer looks at
 * while `npm start` runs (a checkout's path through gateway, orders, the broker and
 * the saga's participants); not a trace backend, so nothing survives a restart.
 */

/** OTLP's span kinds: INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5. */
export const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;

export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: (typeof SPAN_KINDS)[number];
  /** `service.name` of the process that exported it. */
  service: string;
  /** Epoch milliseconds, fractional (OTLP gives nanoseconds). */
  startMs: number;
  durationMs: number;
  error: boolean;
  /** The span's attributes, as strings, numbers or booleans. */
  attributes: Record<string, string | number | boolean>;
  /** Span events (an exception, say), with their time and attributes. */
  events: Array<{ name: string; atMs: number; attributes: Record<string, string | number | boolean> }>;
}

export interface TraceSummary {
  traceId: string;
  /** The root span's name, or the earliest span's while the root has not arrived. */
  name: string;
  /** The root span's `url.path`, when it served HTTP: the request as the client sent it. */
  path?: string;
  rootService: string;
  services: string[];
  startMs: number;
  durationMs: number;
  spans: number;
  errors: number;
}

export interface TraceStoreOptions {
  /** Traces kept; the oldest go first. */
  maxTraces?: number;
  /** Spans kept in one trace; later ones are counted as dropped. */
  maxSpansPerTrace?: number;
}

/** What `ingest` found wrong with a body: the chassis answers it as 400. */
export class MalformedTraces extends Error {}

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: OtlpValue[] } };
type OtlpAttributes = Array<{ key?: unknown; value?: OtlpValue }> | undefined;

const HEX_TRACE_ID = /^[0-9a-f]{32}$/;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/;

function attributesOf(list: OtlpAttributes): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  if (!Array.isArray(list)) return attributes;
  for (const entry of list) {
    if (typeof entry?.key !== 'string' || !entry.value) continue;
    const value = scalar(entry.value);
    if (value !== undefined) attributes[entry.key] = value;
  }
  return attributes;
}

function scalar(value: OtlpValue): string | number | boolean | undefined {
  if (typeof value.stringValue === 'string') return value.stringValue.slice(0, 2_000);
  if (value.intValue !== undefined) return Number(value.intValue);
  if (typeof value.doubleValue === 'number') return value.doubleValue;
  if (typeof value.boolValue === 'boolean') return value.boolValue;
  if (value.arrayValue?.values) return value.arrayValue.values.map((v) => String(scalar(v))).join(', ');
  return undefined;
}

/** OTLP/JSON sends nanosecond timestamps as decimal strings (or numbers); to fractional milliseconds. */
function millis(nanos: unknown): number | undefined {
  if (typeof nanos !== 'string' && typeof nanos !== 'number') return undefined;
  try {
    const value = BigInt(nanos);
    return Number(value / 1_000n) / 1_000;
  } catch {
    return undefined;
  }
}

export class TraceStore {
  readonly #traces = new Map<string, StoredSpan[]>();
  readonly #maxTraces: number;
  readonly #maxSpansPerTrace: number;
  #dropped = 0;

  constructor(options: TraceStoreOptions = {}) {
    this.#maxTraces = options.maxTraces ?? 1_000;
    this.#maxSpansPerTrace = options.maxSpansPerTrace ?? 2_000;
  }

  /** Spans refused because their trace was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Takes an OTLP `ExportTraceServiceRequest` in its JSON encoding (ids in hex, as
   * the OpenTelemetry JS exporter sends them). Throws MalformedTraces when the body
   * is not one; spans without valid ids or times are skipped. Answers how many spans
   * were kept.
   */
  ingest(body: unknown): number {
    const resourceSpans = (body as { resourceSpans?: unknown })?.resourceSpans;
    if (!Array.isArray(resourceSpans)) throw new MalformedTraces('the body is not an OTLP trace export: resourceSpans must be an array');
    let kept = 0;
    for (const resource of resourceSpans as Array<{ resource?: { attributes?: OtlpAttributes }; scopeSpans?: unknown }>) {
      const service = String(attributesOf(resource?.resource?.attributes)['service.name'] ?? 'unknown');
      if (!Array.isArray(resource?.scopeSpans)) continue;
      for (const scope of resource.scopeSpans as Array<{ spans?: unknown }>) {
        if (!Array.isArray(scope?.spans)) continue;
        for (const raw of scope.spans as unknown[]) {
          if (typeof raw !== 'object' || raw === null) continue;
          const span = this.#toSpan(raw as Record<string, unknown>, service);
          if (span && this.#keep(span)) kept++;
        }
      }
    }
    return kept;
  }

  #toSpan(raw: Record<string, unknown>, service: string): StoredSpan | undefined {
    const traceId = typeof raw['traceId'] === 'string' ? raw['traceId'].toLowerCase() : '';
    const spanId = typeof raw['spanId'] === 'string' ? raw['spanId'].toLowerCase() : '';
    const start = millis(raw['startTimeUnixNano']);
    const end = millis(raw['endTimeUnixNano']);
    if (!HEX_TRACE_ID.test(traceId) || !HEX_SPAN_ID.test(spanId) || start === undefined || end === undefined) return undefined;
    const parent = typeof raw['parentSpanId'] === 'string' ? raw['parentSpanId'].toLowerCase() : '';
    const kind = typeof raw['kind'] === 'number' && raw['kind'] >= 0 && raw['kind'] < SPAN_KINDS.length ? SPAN_KINDS[raw['kind']]! : 'UNSPECIFIED';
    const status = raw['status'] as { code?: number } | undefined;
    const events = Array.isArray(raw['events']) ? (raw['events'] as Array<{ name?: unknown; timeUnixNano?: unknown; attributes?: OtlpAttributes }>) : [];
    return {
      traceId,
      spanId,
      ...(HEX_SPAN_ID.test(parent) ? { parentSpanId: parent } : {}),
      name: typeof raw['name'] === 'string' ? raw['name'].slice(0, 500) : '(unnamed)',
      kind,
      service,
      startMs: start,
      durationMs: Math.max(0, end - start),
      // OTLP status code 2 is ERROR.
      error: status?.code === 2,
      attributes: attributesOf(raw['attributes'] as OtlpAttributes),
      events: events.slice(0, 50).map((event) => ({
        name: typeof event?.name === 'string' ? event.name.slice(0, 200) : '(event)',
        atMs: millis(event?.timeUnixNano) ?? start,
        attributes: attributesOf(event?.attributes),
      })),
    };
  }

  #keep(span: StoredSpan): boolean {
    let spans = this.#traces.get(span.traceId);
    if (!spans) {
      spans = [];
      this.#traces.set(span.traceId, spans);
      // Insertion order is arrival order: the first key is the trace seen longest ago.
      while (this.#traces.size > this.#maxTraces) this.#traces.delete(this.#traces.keys().next().value!);
    }
    if (spans.length >= this.#maxSpansPerTrace || spans.some((known) => known.spanId === span.spanId)) {
      this.#dropped++;
      return false;
    }
    spans.push(span);
    return true;
  }

  /** The most recent traces first (by start), optionally only those a service took part in. */
  summaries(filter: { service?: string | undefined; limit?: number | undefined } = {}): TraceSummary[] {
    const summaries: TraceSummary[] = [];
    for (const [traceId, spans] of this.#traces) {
      if (filter.service && !spans.some((span) => span.service === filter.service)) continue;
      summaries.push(summarise(traceId, spans));
    }
    summaries.sort((a, b) => b.startMs - a.startMs);
    return summaries.slice(0, filter.limit ?? 100);
  }

  /** A trace's spans in start order, or undefined when it is not (or no longer) kept. */
  trace(traceId: string): { summary: TraceSummary; spans: StoredSpan[] } | undefined {
    const spans = this.#traces.get(traceId.toLowerCase());
    if (!spans) return undefined;
    return { summary: summarise(traceId.toLowerCase(), spans), spans: [...spans].sort((a, b) => a.startMs - b.startMs) };
  }

  /** Every service seen, for the console's filter. */
  services(): string[] {
    const names = new Set<string>();
    for (const spans of this.#traces.values()) for (const span of spans) names.add(span.service);
    return [...names].sort();
  }
}

function summarise(traceId: string, spans: StoredSpan[]): TraceSummary {
  const ids = new Set(spans.map((span) => span.spanId));
  const first = spans.reduce((earliest, span) => (span.startMs < earliest.startMs ? span : earliest));
  // The root: no parent, or a parent that never arrived (the caller was outside the system).
  const root = spans.find((span) => !span.parentSpanId) ?? spans.filter((span) => !ids.has(span.parentSpanId!)).reduce((a, b) => (a.startMs <= b.startMs ? a : b), first);
  const end = Math.max(...spans.map((span) => span.startMs + span.durationMs));
  const path = root.attributes['url.path'];
  return {
    traceId,
    name: root.name,
    ...(typeof path === 'string' ? { path } : {}),
    rootService: root.service,
    services: [...new Set(spans.map((span) => span.service))].sort(),
    startMs: first.startMs,
    durationMs: end - first.startMs,
    spans: spans.length,
    errors: spans.filter((span) => span.error).length,
  };
}
