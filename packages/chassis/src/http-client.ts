import { Pool, type Dispatcher } from 'undici';
import { currentRequestContext } from './request-context.ts';
import { injectTraceContext } from './telemetry.ts';

/**
 * Headers every outgoing call carries: the correlation id of the request being
 * served and the W3C trace context of the active span.
 */
export function propagationHeaders(headers: Record<string, string> = {}): Record<string, string> {
  const requestId = currentRequestContext()?.requestId;
  if (requestId) headers['x-request-id'] = requestId;
  return injectTraceContext(headers);
}

export interface ServiceClientOptions {
  /** Base URL of the upstream service. */
  origin: string;
  connections?: number;
  /** Time allowed for the upstream's response headers, then its body. */
  timeoutMs?: number;
}

/** A keep-alive connection pool to one upstream service, with propagation built in. */
export class ServiceClient {
  readonly origin: string;
  readonly pool: Pool;
  private readonly timeoutMs: number;

  constructor(options: ServiceClientOptions) {
    this.origin = options.origin;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.pool = new Pool(options.origin, {
      connections: options.connections ?? 64,
      keepAliveTimeout: 10_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  request(options: Omit<Dispatcher.RequestOptions, 'origin'> & { headers?: Record<string, string> }): Promise<Dispatcher.ResponseData> {
    return this.pool.request({ ...options, headers: propagationHeaders({ ...options.headers }) });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
