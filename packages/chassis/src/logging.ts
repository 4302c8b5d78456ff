import { destination, type LoggerOptions } from 'pino';
import { activeTraceIds } from './telemetry.ts';

/**
 * Paths pino removes from every log line. Passwords, tokens, card data and
 * authorization headers never reach a log. Explicit paths, not wildcards: pino
 * redacts on every line, and wildcard paths cost several microseconds each.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'body.password',
  'body.refreshToken',
  'body.cardNumber',
  'body.cvc',
  'password',
  'newPassword',
  'accessToken',
  'refreshToken',
  'token',
  'cardNumber',
  'cvc',
];

/**
 * JSON logs with the service name and, inside a request, its correlation and trace ids.
 * Written asynchronously to stdout: under load lines coalesce into few writes; when
 * idle each line goes out at once; pending lines are flushed when the process exits.
 */
export function loggerOptions(serviceName: string, level: string): LoggerOptions & { stream: ReturnType<typeof destination> } {
  return {
    stream: destination({ dest: 1, sync: false }),
    level,
    base: { service: serviceName },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    // Request loggers carry the request id as a binding; every line logged inside a
    // request, through any logger, carries the trace it belongs to.
    mixin() {
      const ids = activeTraceIds();
      return ids ? { traceId: ids.traceId, spanId: ids.spanId } : {};
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
