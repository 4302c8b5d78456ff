import { Type, type Discovery, type ServiceApp, type ServiceInstance, type UpstreamClient } from '@bazaar/chassis';
import { routeFor, routeTable, type ServiceName } from '@bazaar/topology';
import { request } from 'undici';

const REGISTRY_PATH = '/api/admin/registry';
const PROBE_TIMEOUT_MS = 1_000;

export interface RegistryRoutesOptions {
  discovery: Discovery;
  upstreams: ReadonlyMap<ServiceName, UpstreamClient>;
}

/** What a probe of an instance's /readyz found just now. */
type Probe = 'ready' | 'not ready' | 'unreachable';

/**
 * `GET /api/admin/registry` (admin only): every registered instance of every
 * service — address, pid, version, what it last reported in its heartbeat, what
 * a probe of its /readyz finds now — and, for the services the gateway routes
 * to, the gateway's view: its breaker per service, bulkhead occupancy, and per
 * instance the calls in flight and whether it is ejected as an outlier.
 */
export function installRegistryRoutes(app: ServiceApp, options: RegistryRoutesOptions): void {
  const shadowedBy = routeFor(REGISTRY_PATH, routeTable());
  if (shadowedBy) throw new Error(`the topology routes ${shadowedBy.prefix} to ${shadowedBy.service}, which hides the gateway's own ${REGISTRY_PATH}`);

  app.get(
    REGISTRY_PATH,
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['registry'],
        summary: 'Every service instance with its health, and the gateway breaker and balancer state',
        querystring: Type.Object({ probe: Type.Boolean({ default: true, description: 'Probe each instance /readyz now (1 s each, in parallel)' }) }),
      },
    },
    async (request) => {
      const instances = options.discovery.all();
      const probes = request.query.probe ? await Promise.all(instances.map((instance) => probe(instance))) : instances.map(() => undefined);
      const services: Record<string, unknown> = {};
      const byService = new Map<string, Array<{ instance: ServiceInstance; probe: Probe | undefined }>>();
      instances.forEach((instance, i) => {
        const list = byService.get(instance.service) ?? [];
        list.push({ instance, probe: probes[i] });
        byService.set(instance.service, list);
      });
      for (const service of new Set([...byService.keys(), ...options.upstreams.keys()])) {
        const client = options.upstreams.get(service as ServiceName);
        const stats = client?.stats();
        const balancerView = new Map(stats?.instances.map((s) => [s.id, s]) ?? []);
        services[service] = {
          ...(stats ? { breaker: stats.breaker, bulkhead: stats.bulkhead, retryBudgetRemaining: stats.retryBudgetRemaining } : {}),
          instances: (byService.get(service) ?? []).map(({ instance, probe: probed }) => {
            const seen = balancerView.get(instance.id);
            return {
              id: instance.id,
              url: instance.url,
              pid: instance.pid,
              host: instance.host,
              version: instance.version,
              metadata: instance.metadata,
              reported: instance.status,
              ...(probed ? { probe: probed } : {}),
              registeredAt: instance.registeredAt,
              heartbeatAt: instance.heartbeatAt,
              ...(seen ? { gateway: { inFlight: seen.outstanding, calls: seen.calls, failures: seen.failures, ejected: seen.ejected } } : {}),
            };
          }),
        };
      }
      return { discovery: options.discovery.mode, services };
    },
  );
}

async function probe(instance: ServiceInstance): Promise<Probe> {
  try {
    const response = await request(new URL('/readyz', instance.url), { headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body.dump();
    return response.statusCode === 200 ? 'ready' : 'not ready';
  } catch {
    return 'unreachable';
  }
}
