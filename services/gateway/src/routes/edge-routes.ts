import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { ServiceApp } from '@bazaar/chassis';
import { routeTable, type ServiceName } from '@bazaar/topology';
import { forward } from '../proxy/forward.ts';
import type { Upstream } from '../proxy/upstreams.ts';

export interface EdgeOptions {
  upstreams: Map<ServiceName, Upstream>;
  corsOrigins: string[];
  rateLimitPerMinute: number;
}

const proxiedMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The edge: security headers, CORS, rate limits, then every `/api/<service>/…` route proxied. */
export async function edgeRoutes(app: ServiceApp, options: EdgeOptions): Promise<void> {
  await app.register(helmet, {
    // The API answers JSON; only /docs serves a page, and it needs its own inline styles.
    contentSecurityPolicy: { directives: { defaultSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], scriptSrc: ["'self'"] } },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  await app.register(cors, {
    origin: options.corsOrigins,
    credentials: true,
    exposedHeaders: ['x-request-id', 'etag', 'location', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
    maxAge: 600,
  });
  await app.register(rateLimit, {
    max: options.rateLimitPerMinute,
    timeWindow: 60_000,
    cache: 50_000,
    allowList: (request) => request.url === '/healthz' || request.url === '/readyz' || request.url === '/metrics',
    enableDraftSpec: true,
  });

  // Bodies are forwarded as they came, unparsed; the service validates them. The size limit holds here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const { prefix, service } of routeTable()) {
    const upstream = options.upstreams.get(service)!;
    const route = {
      method: [...proxiedMethods],
      // A present token is verified at the edge; the service checks it again and decides what needs one.
      preHandler: app.identify,
      schema: { hide: true },
      handler: (request: Parameters<typeof forward>[1], reply: Parameters<typeof forward>[2]) => forward(upstream, request, reply),
    };
    app.route({ ...route, url: prefix });
    app.route({ ...route, url: `${prefix}/*` });
  }

  app.get('/', { schema: { hide: true } }, async () => ({
    name: 'Bazaar API gateway',
    docs: '/docs',
    services: Object.fromEntries([...options.upstreams.values()].map((u) => [u.service, routeTable().filter((r) => r.service === u.service).map((r) => r.prefix)])),
  }));
}
