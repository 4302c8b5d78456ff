import { connectBroker, type Broker, type ServiceModule, type Subscription } from '@bazaar/chassis';
import { GatewayConfig } from './config.ts';
import { createRateLimiter, type RateLimiter } from './edge/rate-limit.ts';
import { ResponseCache } from './edge/response-cache.ts';
import { OpenApiAggregator } from './openapi/aggregate.ts';
import { routedUpstreams } from './proxy/upstreams.ts';
import { edgeRoutes } from './routes/edge-routes.ts';
import { installFaultRoutes } from './routes/fault-routes.ts';
import { installRegistryRoutes } from './routes/registry-routes.ts';
import { installStorefrontRoutes } from './routes/storefront-routes.ts';
import { installWebRoutes } from './routes/web-routes.ts';

/** Catalog events after which a cached public catalog read may be stale. */
const CATALOG_CHANGES = ['catalog.product-changed.v1', 'catalog.stock-changed.v1'];

/** The gateway as a service module: a factory, since the aggregated docs, the limiter and the cache live as long as the app. */
export function createGatewayService(): ServiceModule<typeof GatewayConfig> {
  let aggregator: OpenApiAggregator | undefined;
  let rateLimiter: RateLimiter | undefined;
  let broker: Broker | undefined;
  let invalidations: Subscription | undefined;

  return {
    name: 'gateway',
    title: 'Bazaar API',
    description: 'The API gateway in front of every Bazaar service.',
    configSchema: GatewayConfig,

    transformOpenApi: (document) => aggregator?.merge(document) ?? { ...document },
    async routes(app, context) {
      const { config, log } = context;
      const upstreams = routedUpstreams(context.upstreams);
      // Upstreams are not readiness checks: one service down must not take the whole
      // gateway out of rotation (browsing works while orders is down). Their state is
      // in /api/admin/registry and the upstream_* metrics.
      rateLimiter = createRateLimiter({
        perIpPerMinute: config.RATE_LIMIT_PER_MINUTE,
        perUserPerMinute: config.RATE_LIMIT_PER_USER_PER_MINUTE,
        ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL, keyPrefix: config.RATE_LIMIT_REDIS_PREFIX } : {}),
        log,
      });
      // Ready only with shared limits (or after the connect timeout, degraded to per-replica ones).
      await rateLimiter.connected();

      // Public catalog reads are cached only where catalog events can clear them (a broker to listen to).
      let cache: ResponseCache | undefined;
      if (config.CATALOG_CACHE_TTL_MS > 0 && config.BROKER_URL) {
        cache = new ResponseCache({ ttlMs: config.CATALOG_CACHE_TTL_MS, maxEntries: config.CATALOG_CACHE_MAX_ENTRIES });
        const listening = cache;
        broker = connectBroker(config.BROKER_URL, { connectionName: 'gateway', prefix: config.BROKER_PREFIX });
        invalidations = await broker.listen(CATALOG_CHANGES, (notice) => listening.invalidate(`${notice.name} ${notice.key}`), {
          // Notices were lost while disconnected: anything cached may be stale.
          onGap: () => listening.invalidate('listener reconnected'),
        });
      }

      await edgeRoutes(app, context, {
        upstreams,
        verifyAccessToken: context.verifyAccessToken,
        corsOrigins: config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
        rateLimiter,
        ...(cache ? { cache } : {}),
      });
      installRegistryRoutes(app, { discovery: context.discovery, upstreams });
      // Breaking services from the web app exists only where fault injection does (npm start); never in production.
      if (config.FAULT_INJECTION) installFaultRoutes(app, { discovery: context.discovery });
      installStorefrontRoutes(app, { upstreams, partTimeoutMs: config.STOREFRONT_PART_TIMEOUT_MS });
      await installWebRoutes(app, { upstreams, traceConsoleUrl: config.TRACE_CONSOLE_URL });
      aggregator = new OpenApiAggregator([...upstreams.values()], log);
      aggregator.start();
    },
    async onStop() {
      aggregator?.stop();
      await invalidations?.close();
      await broker?.close();
      await rateLimiter?.close();
    },
  };
}

export const gatewayService = createGatewayService();
