/**
 * The system's Kubernetes manifests, rendered from the typed topology: what runs
 * (one Deployment and one Service per service, their ports, the `<SERVICE>_URL` of
 * each dependency) and who may call whom (a NetworkPolicy per service admitting only
 * the services that depend on it) come from `@bazaar/topology`, so the manifests
 * cannot drift from the code. `npm run kubernetes` writes them to
 * `deploy/kubernetes/bazaar.yaml`; a test fails when that file differs.
 *
 * Secrets are not rendered: each service reads its own Secret `bazaar-<service>`
 * (its `DATABASE_URL`, and whatever else it needs) and every service the shared
 * `bazaar-broker` (`BROKER_URL`). See docs/kubernetes.md.
 */
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import { serviceNames, serviceUrlVariable, topology, type ServiceName } from '@bazaar/topology';

export interface KubernetesOptions {
  namespace?: string;
  /** The image every service runs (built from the repository's Containerfile). */
  image?: string;
  /** Replicas of each service; at least two so a node drain or a rollout never empties one. */
  replicas?: number;
  /** Most replicas each service's autoscaler may add. */
  maxReplicas?: number;
  /** Host the gateway's Ingress answers for. */
  host?: string;
}

/** Seconds, milliseconds: the drain on SIGTERM (readiness 503, then the listener closes). */
export const DRAIN = {
  /**
   * After SIGTERM the pod still answers this long (readiness 503) before its listener
   * closes: Kubernetes withdraws a terminating pod's endpoint at once, but kube-proxy,
   * the ingress controller and callers' keep-alive connections learn it a moment later.
   */
  delayMs: 5_000,
  /** In-flight requests get this long to finish afterwards (the chassis's SHUTDOWN_TIMEOUT_MS default). */
  timeoutMs: 10_000,
  /** Kubernetes kills the container this long after SIGTERM; more than both above. */
  gracePeriodSeconds: 30,
};

/**
 * The addresses services believe `X-Forwarded-For` from: the private ranges pod
 * networks use. Only declared callers reach a service (its NetworkPolicy), and the
 * gateway sits behind the cluster's ingress controller.
 */
export const CLUSTER_PROXIES = '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16';

export const SHARED_CONFIG = 'bazaar-config';
export const BROKER_SECRET = 'bazaar-broker';
export const secretOf = (service: ServiceName) => `bazaar-${service}`;
export const serviceConfigOf = (service: ServiceName) => `bazaar-${service}-config`;

/** The label every object of the system carries. */
export const SYSTEM_LABELS = { 'app.kubernetes.io/part-of': 'bazaar' };

/** A service's labels, which also select its pods. */
export function labelsOf(service: ServiceName): Record<string, string> {
  return { 'app.kubernetes.io/name': service, ...SYSTEM_LABELS };
}

/** The in-cluster address of a service: its Service's DNS name in the same namespace. */
export function clusterUrl(service: ServiceName): string {
  return `http://${service}:${topology[service].port}`;
}

/** The services that call `service` over HTTP (and so may reach it). */
export function callersOf(service: ServiceName): ServiceName[] {
  return serviceNames.filter((name) => (topology[name].dependsOn as readonly ServiceName[]).includes(service));
}

/** Variables a service's container gets on top of the shared ConfigMap and the Secrets. */
export function containerEnv(service: ServiceName): Array<{ name: string; value: string }> {
  const env = [
    { name: 'SERVICE_NAME', value: service },
    { name: 'PORT', value: String(topology[service].port) },
  ];
  for (const dependency of topology[service].dependsOn) env.push({ name: serviceUrlVariable(dependency), value: clusterUrl(dependency) });
  return env;
}

function deployment(service: ServiceName, options: Required<KubernetesOptions>): Deployment {
  const port = topology[service].port;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return new Deployment({
    metadata: { name: service, namespace: options.namespace, labels: labelsOf(service) },
    spec: {
      replicas: options.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: labelsOf(service) },
      // Never below the wanted replicas during a rollout: a new pod is ready before an old one leaves.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labelsOf(service),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          terminationGracePeriodSeconds: DRAIN.gracePeriodSeconds,
          // Its own identity (the mesh's mTLS principal); no API token: services never call Kubernetes.
          serviceAccountName: service,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labelsOf(service) } },
          ],
          containers: [
            {
              name: service,
              image: options.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['node', `services/${service}/src/main.ts`],
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              env: containerEnv(service),
              envFrom: [
                { configMapRef: { name: SHARED_CONFIG } },
                { configMapRef: { name: serviceConfigOf(service), optional: true } },
                { secretRef: { name: BROKER_SECRET } },
                // The gateway owns no database: its Secret (REDIS_URL, say) is optional.
                { secretRef: { name: secretOf(service), optional: topology[service].database === null } },
              ],
              // Migrations run at start: up to a minute before the process answers.
              startupProbe: probe('/healthz', 2, 30),
              livenessProbe: probe('/healthz', 10, 3),
              readinessProbe: probe('/readyz', 5, 2),
              resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '512Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
    },
  });
}

function serviceAccount(name: ServiceName, options: Required<KubernetesOptions>): ServiceAccount {
  return new ServiceAccount({ metadata: { name, namespace: options.namespace, labels: labelsOf(name) }, automountServiceAccountToken: false });
}

function service(name: ServiceName, options: Required<KubernetesOptions>): Service {
  return new Service({
    metadata: { name, namespace: options.namespace, labels: labelsOf(name) },
    spec: {
      type: 'ClusterIP',
      selector: labelsOf(name),
      ports: [{ name: 'http', port: topology[name].port, targetPort: 'http', protocol: 'TCP' }],
    },
  });
}

function disruptionBudget(name: ServiceName, options: Required<KubernetesOptions>): PodDisruptionBudget {
  return new PodDisruptionBudget({
    metadata: { name, namespace: options.namespace, labels: labelsOf(name) },
    spec: { maxUnavailable: 1, selector: { matchLabels: labelsOf(name) } },
  });
}

function autoscaler(name: ServiceName, options: Required<KubernetesOptions>): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: { name, namespace: options.namespace, labels: labelsOf(name) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: options.replicas,
      maxReplicas: options.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    },
  });
}

/** Prometheus, wherever it runs, scrapes `/metrics` on the service's port. */
export const SCRAPER = { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } };

/**
 * Who may open a connection to a service: the services that declare it in
 * `dependsOn`, and Prometheus. The gateway takes traffic from anywhere (the ingress
 * controller, a load balancer).
 */
function ingressPolicy(name: ServiceName, options: Required<KubernetesOptions>): NetworkPolicy {
  const from = name === 'gateway' ? [] : [...callersOf(name).map((caller) => ({ podSelector: { matchLabels: labelsOf(caller) } })), SCRAPER];
  return new NetworkPolicy({
    metadata: { name, namespace: options.namespace, labels: labelsOf(name) },
    spec: {
      podSelector: { matchLabels: labelsOf(name) },
      policyTypes: ['Ingress'],
      ingress: [{ ...(from.length > 0 ? { from } : {}), ports: [{ protocol: 'TCP', port: 'http' }] }],
    },
  });
}

/** Everything in the namespace refuses connections unless a policy above admits them. */
function denyByDefault(options: Required<KubernetesOptions>): NetworkPolicy {
  return new NetworkPolicy({
    metadata: { name: 'default-deny-ingress', namespace: options.namespace, labels: SYSTEM_LABELS },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  });
}

/** What every service reads; per-service settings go in the optional `bazaar-<service>-config`. */
function sharedConfig(options: Required<KubernetesOptions>): ConfigMap {
  return new ConfigMap({
    metadata: { name: SHARED_CONFIG, namespace: options.namespace, labels: SYSTEM_LABELS },
    data: {
      HOST: '0.0.0.0',
      // Services find each other by their Service's DNS name; Kubernetes balances over the ready pods.
      DISCOVERY: 'static',
      LOG_LEVEL: 'info',
      TRUST_PROXY: CLUSTER_PROXIES,
      SHUTDOWN_DELAY_MS: String(DRAIN.delayMs),
      SHUTDOWN_TIMEOUT_MS: String(DRAIN.timeoutMs),
      CATALOG_SEED_DEMO: 'false',
      // Once an exporter is set (OTEL_EXPORTER_OTLP_ENDPOINT), one new trace in ten, and every trace a caller sampled.
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    },
  });
}

function gatewayIngress(options: Required<KubernetesOptions>): Ingress {
  return new Ingress({
    metadata: { name: 'gateway', namespace: options.namespace, labels: labelsOf('gateway') },
    spec: {
      rules: [
        {
          host: options.host,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'gateway', port: { name: 'http' } } } }] },
        },
      ],
    },
  });
}

/** What every rendered object is: a typed model that validates itself and serialises to its manifest. */
export interface KubernetesObject {
  readonly kind: string;
  toJSON(): unknown;
  validate(): void;
}

export const DEFAULTS: Required<KubernetesOptions> = {
  namespace: 'bazaar',
  image: 'bazaar:0.1.0',
  replicas: 2,
  maxReplicas: 6,
  host: 'bazaar.example.com',
};

/** Every object of the system, each validated against the Kubernetes API schema as it is built. */
export function kubernetesObjects(overrides: KubernetesOptions = {}): KubernetesObject[] {
  const options = { ...DEFAULTS, ...overrides };
  const objects: KubernetesObject[] = [
    new Namespace({ metadata: { name: options.namespace, labels: SYSTEM_LABELS } }),
    sharedConfig(options),
    denyByDefault(options),
  ];
  for (const name of serviceNames) {
    objects.push(
      serviceAccount(name, options),
      deployment(name, options),
      service(name, options),
      disruptionBudget(name, options),
      autoscaler(name, options),
      ingressPolicy(name, options),
    );
  }
  objects.push(gatewayIngress(options));
  return validated(objects);
}

/** Validates each object against its schema (throws on the first that fails); answers them. */
export function validated(objects: KubernetesObject[]): KubernetesObject[] {
  for (const object of objects) object.validate();
  return objects;
}

/** Objects as one multi-document YAML file, under the do-not-edit header. */
export function rendered(objects: KubernetesObject[]): string {
  const header = '# Rendered from packages/topology by `npm run kubernetes` (packages/deploy); do not edit by hand.\n';
  return header + objects.map((object) => stringify(object.toJSON(), { lineWidth: 0 })).join('---\n');
}

/** The multi-document YAML of `kubernetesObjects()`, as `deploy/kubernetes/bazaar.yaml` holds it. */
export function renderKubernetes(overrides: KubernetesOptions = {}): string {
  return rendered(kubernetesObjects(overrides));
}
