import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import { requestDurationHistogram, type ServiceApp, type ServiceContext, type UpstreamClient, type VerifyAccessToken } from '@bazaar/chassis';
import type { GatewayConfig } from '../config.ts';
import type { Static } from 'typebox';
import { routeTable, type ServiceName } from '@bazaar/topology';
import { corsExposedHeaders } from '../edge/headers.ts';
import { rateLimitExceeded, type RateLimiter } from '../edge/rate-limit.ts';
import type { ResponseCache } from '../edge/response-cache.ts';
import { createDataPlane } from '../proxy/data-plane.ts';
import { installDeadLetterRoutes } from './dead-letter-routes.ts';
import { isWebAsset } from './web-routes.ts';

export interface EdgeOptions {
  upstreams: Map<ServiceName, UpstreamClient>;
  corsOrigins: string[];
  rateLimiter: RateLimiter;
  /** Cache of public catalog reads (absent: off). */
  cache?: ResponseCache;
  verifyAccessToken: VerifyAccessToken;
}

const probes = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The edge. Proxied `/api/<service>/…` requests take the data plane (below
 * Fastify, see data-plane.ts); the gateway's own routes (docs, probes, CORS
 * preflight, the system-wide dead-letter queue under /api/admin/dlq, the web
 * app, 404s) go
 * through Fastify with the same rate limit and headers.
 */
export async function edgeRoutes(app: ServiceApp, context: ServiceContext<Static<typeof GatewayConfig>>, options: EdgeOptions): Promise<void> {
  const rateLimiter = options.rateLimiter;

  await app.register(helmet, {
    // /docs serves Swagger UI, which needs its own scripts and inline styles.
    // No upgrade-insecure-requests: the gateway serves plain HTTP (TLS ends in front of it, if
    // anywhere), and upgrading would send the page's own assets to an https port nobody serves.
    contentSecurityPolicy: {
      directives: { defaultSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], scriptSrc: ["'self'"], upgradeInsecureRequests: null },
    },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  // Not strict: an OPTIONS without Origin and Access-Control-Request-Method is no
  // preflight, just OPTIONS, and gets 204 rather than the plugin's text/plain 400.
  await app.register(cors, { origin: options.corsOrigins, credentials: true, exposedHeaders: corsExposedHeaders, maxAge: 600, strictPreflight: false });
  app.addHook('onRequest', async (request, reply) => {
    // Probes and the web app's own files reach no service; the budgets guard the services.
    if (probes.has(request.url) || isWebAsset(request.url)) return;
    // Keyed like the data plane: by the peer address (the gateway is the edge).
    const decision = await rateLimiter.check({ ip: request.socket.remoteAddress ?? 'unknown' });
    reply.headers(decision.headers);
    if (!decision.allowed) throw rateLimitExceeded(decision.refusedBy);
  });

  context.intercept(
    createDataPlane({
      routes: routeTable(),
      upstreams: options.upstreams,
      verifyAccessToken: options.verifyAccessToken,
      rateLimiter,
      cache: options.cache,
      corsOrigins: new Set(options.corsOrigins),
      bodyLimit: context.config.BODY_LIMIT,
      duration: requestDurationHistogram(context.metrics),
      log: context.log,
      accessLog: context.config.ACCESS_LOG,
      slowMs: context.config.SLOW_REQUEST_MS,
      timeoutMs: context.config.UPSTREAM_TIMEOUT_MS,
    }),
  );

  installDeadLetterRoutes(app, {
    upstreams: options.upstreams,
    timeoutMs: context.config.UPSTREAM_TIMEOUT_MS,
    replayTimeoutMs: context.config.DLQ_REPLAY_TIMEOUT_MS,
  });
}
