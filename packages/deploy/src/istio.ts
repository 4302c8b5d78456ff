/**
 * The Istio policy of the system (`deploy/kubernetes/istio/`, an overlay on the
 * base manifests), rendered from the topology like them: mutual TLS required between
 * every pod, and per service an AuthorizationPolicy admitting only the workload
 * identities (service accounts) of the services that declare it in `dependsOn`, the
 * same call graph the NetworkPolicies enforce by address.
 *
 * The mesh does not retry: each service's VirtualService sets `retries.attempts: 0`,
 * because the chassis already retries idempotent calls within a retry budget, behind
 * a breaker (ADR 0014); Istio's default of two retries on 503 and reset would
 * multiply attempts in exactly the outage the budget is for.
 */
import { PeerAuthentication, AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { serviceNames, type ServiceName } from '@bazaar/topology';
import { DEFAULTS, SCRAPER, SYSTEM_LABELS, callersOf, labelsOf, rendered, validated, type KubernetesObject, type KubernetesOptions } from './kubernetes.ts';

/** Ports of the sidecar Prometheus scrapes: the merged application and proxy metrics (15020), the proxy's own (15090). */
export const SIDECAR_METRICS_PORTS = [15020, 15090];

/** The mTLS identity of a service's pods: its service account, SPIFFE-style as Istio writes it. */
export function principalOf(service: ServiceName, namespace = DEFAULTS.namespace): string {
  return `cluster.local/ns/${namespace}/sa/${service}`;
}

function authorization(name: ServiceName, namespace: string): AuthorizationPolicy {
  const callers = callersOf(name);
  return new AuthorizationPolicy({
    metadata: { name, namespace, labels: labelsOf(name) },
    spec: {
      selector: { matchLabels: labelsOf(name) },
      action: 'ALLOW',
      // The gateway takes requests from the ingress gateway and anyone it admits; the others only from their callers.
      rules: name === 'gateway' ? [{}] : [{ from: [{ source: { principals: callers.map((caller) => principalOf(caller, namespace)) } }] }],
    },
  });
}

function noMeshRetries(name: ServiceName, namespace: string): VirtualService {
  return new VirtualService({
    metadata: { name, namespace, labels: labelsOf(name) },
    spec: {
      hosts: [name],
      http: [{ route: [{ destination: { host: name } }], retries: { attempts: 0 } }],
    },
  });
}

/** The default-deny NetworkPolicy also stops Prometheus reaching the sidecars' metrics ports; this admits it. */
function sidecarMetrics(namespace: string): NetworkPolicy {
  return new NetworkPolicy({
    metadata: { name: 'istio-sidecar-metrics', namespace, labels: SYSTEM_LABELS },
    spec: {
      podSelector: { matchLabels: SYSTEM_LABELS },
      policyTypes: ['Ingress'],
      ingress: [{ from: [SCRAPER], ports: SIDECAR_METRICS_PORTS.map((port) => ({ protocol: 'TCP', port })) }],
    },
  });
}

/** The overlay's objects, each validated against its schema (Istio's CRDs, Kubernetes' API). */
export function istioObjects(overrides: Pick<KubernetesOptions, 'namespace'> = {}): KubernetesObject[] {
  const namespace = overrides.namespace ?? DEFAULTS.namespace;
  const objects: KubernetesObject[] = [
    new PeerAuthentication({ metadata: { name: 'default', namespace, labels: SYSTEM_LABELS }, spec: { mtls: { mode: 'STRICT' } } }),
    // The gateway also takes plain connections: an ingress controller outside the mesh reaches it.
    new PeerAuthentication({
      metadata: { name: 'gateway', namespace, labels: labelsOf('gateway') },
      spec: { selector: { matchLabels: labelsOf('gateway') }, mtls: { mode: 'PERMISSIVE' } },
    }),
    sidecarMetrics(namespace),
  ];
  for (const name of serviceNames) objects.push(authorization(name, namespace), noMeshRetries(name, namespace));
  return validated(objects);
}

/** `deploy/kubernetes/istio/istio.yaml`. */
export function renderIstio(overrides: Pick<KubernetesOptions, 'namespace'> = {}): string {
  return rendered(istioObjects(overrides));
}
