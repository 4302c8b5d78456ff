/**
 * Security headers on every gateway answer. The API serves JSON; only /docs
 * serves a page (its own CSP comes from helmet on the Fastify side).
 */
export const apiSecurityHeaders: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-site',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  // No Strict-Transport-Security: browsers ignore it over plain HTTP; whatever terminates TLS in front sets it.
};

export const corsExposedHeaders = 'x-request-id, etag, location, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy, x-cache, age, traceresponse';

/** CORS response headers for an allowed `origin` on a simple or actual request; none otherwise. */
export function corsHeaders(origin: string | undefined, allowed: ReadonlySet<string>): Record<string, string> | undefined {
  if (!origin || !allowed.has(origin)) return undefined;
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': corsExposedHeaders,
    vary: 'Origin',
  };
}

/** Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus ones we set ourselves. */
export const hopByHop: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length',
  // The gateway names its own span, the trace's root (a cached answer's would name an old trace).
  'traceresponse',
]);
