import type { LoggerOptions } from 'pino';
import { activeTraceIds } from './telemetry.ts';
import { currentRequestContext } from './request-context.ts';

/**
 * Paths pino removes from every log line. Passwords, tokens, card data and
 * authorization headers never reach a log.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.cardNumber',
  '*.cvc',
  'password',
  'refreshToken',
  'accessToken',
];

/** JSON logs with the service name and, inside a request, its correlation and trace ids. */
export function loggerOptions(serviceName: string, level: string): LoggerOptions {
  return {
    level,
    base: { service: serviceName },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const ids = activeTraceIds();
      const requestId = currentRequestContext()?.requestId;
      return { ...(requestId ? { requestId } : {}), ...(ids ? { traceId: ids.traceId, spanId: ids.spanId } : {}) };
    },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: redactQuery(req.url) }),
    },
  };
}

/** Query strings may carry tokens (e.g. SSE clients); keep the path, drop values of sensitive keys. */
function redactQuery(url: string): string {
  return url.replace(/([?&](?:token|access_token|refresh_token|password)=)[^&]*/gi, '$1[redacted]');
}
