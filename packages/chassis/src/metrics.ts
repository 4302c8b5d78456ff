import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics, Histogram } from 'prom-client';

/**
 * A service's Prometheus registry: process metrics plus the RED metrics of every
 * route (request count, errors by status, duration) as one histogram.
 */
export function createMetrics(serviceName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  collectDefaultMetrics({ register: registry });
  return registry;
}

const REQUEST_DURATION = 'http_server_request_duration_seconds';

/** The RED histogram of served requests, created once per registry. */
export function requestDurationHistogram(registry: Registry): Histogram<'method' | 'route' | 'status_code'> {
  const existing = registry.getSingleMetric(REQUEST_DURATION);
  if (existing) return existing as Histogram<'method' | 'route' | 'status_code'>;
  return new Histogram({
    name: REQUEST_DURATION,
    help: 'Duration of HTTP requests served, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
}

export function installRequestMetrics(app: FastifyInstance, registry: Registry): void {
  const duration = requestDurationHistogram(registry);

  app.addHook('onResponse', (request, reply, done) => {
    // The route template keeps label cardinality bounded; unmatched paths share one label.
    const route = request.routeOptions.url ?? 'unmatched';
    if (route !== '/metrics') {
      duration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    }
    done();
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
