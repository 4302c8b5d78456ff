import { routedServices, serviceUrlVariable, type ServiceName } from '@bazaar/topology';
import { Pool } from 'undici';

export interface Upstream {
  readonly service: ServiceName;
  readonly origin: string;
  readonly pool: Pool;
}

export interface UpstreamOptions {
  timeoutMs: number;
  connections: number;
}

/** A keep-alive pool per routed service, addressed by the `<SERVICE>_URL` variables. */
export function createUpstreams(config: Record<string, unknown>, options: UpstreamOptions): Map<ServiceName, Upstream> {
  const upstreams = new Map<ServiceName, Upstream>();
  for (const service of routedServices) {
    const origin = String(config[serviceUrlVariable(service)]);
    upstreams.set(service, {
      service,
      origin,
      pool: new Pool(origin, {
        connections: options.connections,
        keepAliveTimeout: 30_000,
        headersTimeout: options.timeoutMs,
        // Streams (server-sent events) may stay quiet for long; only the headers are on a deadline.
        bodyTimeout: 0,
      }),
    });
  }
  return upstreams;
}

