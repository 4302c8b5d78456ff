import type { ServiceModule } from '@bazaar/chassis';
import { GatewayConfig } from './config.ts';
import { OpenApiAggregator } from './openapi/aggregate.ts';
import { createUpstreams } from './proxy/upstreams.ts';
import { edgeRoutes } from './routes/edge-routes.ts';

/** The gateway as a service module: a factory, since the aggregated docs live as long as the app. */
export function createGatewayService(): ServiceModule<typeof GatewayConfig> {
  let aggregator: OpenApiAggregator | undefined;
  let closeUpstreams = async () => {};

  return {
    name: 'gateway',
    title: 'Bazaar API',
    description: 'The API gateway in front of every Bazaar service.',
    configSchema: GatewayConfig,

    transformOpenApi: (document) => aggregator?.merge(document) ?? { ...document },
    async routes(app, context) {
      const { config, health, log } = context;
      const upstreams = createUpstreams(config, { timeoutMs: config.UPSTREAM_TIMEOUT_MS, connections: config.UPSTREAM_CONNECTIONS });
      closeUpstreams = async () => {
        await Promise.all([...upstreams.values()].map((u) => u.pool.close()));
      };
      for (const upstream of upstreams.values()) {
        health.addCheck(upstream.service, async () => {
          const response = await upstream.pool.request({ method: 'GET', path: '/readyz', headersTimeout: 1_500 });
          await response.body.dump();
          if (response.statusCode !== 200) throw new Error(`answered ${response.statusCode}`);
        });
      }
      await edgeRoutes(app, context, {
        upstreams,
        verifyAccessToken: context.verifyAccessToken,
        corsOrigins: config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
        rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      });
      aggregator = new OpenApiAggregator([...upstreams.values()], log);
      aggregator.start();
    },
    async onStop() {
      aggregator?.stop();
      await closeUpstreams();
    },
  };
}

export const gatewayService = createGatewayService();
