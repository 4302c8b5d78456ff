import type { UpstreamClient, Upstreams } from '@bazaar/chassis';
import { routedServices, type ServiceName } from '@bazaar/topology';

/** The client of each routed service: balanced over its live instances, behind its breaker, bulkhead and retry policy. */
export function routedUpstreams(upstreams: Upstreams): Map<ServiceName, UpstreamClient> {
  return new Map(routedServices.map((service) => [service, upstreams.get(service)]));
}
