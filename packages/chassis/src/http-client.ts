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
