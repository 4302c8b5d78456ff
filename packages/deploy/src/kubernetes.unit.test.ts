import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parseAllDocuments } from 'yaml';
import { serviceNames, serviceUrlVariable, topology, type ServiceName } from '@bazaar/topology';
import { istioObjects, renderIstio } from './istio.ts';
import { DRAIN, kubernetesObjects, renderKubernetes } from './kubernetes.ts';

const MANIFEST = new URL('../../../deploy/kubernetes/bazaar.yaml', import.meta.url);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- read back from YAML, checked field by field
  data?: Record<string, string>;
}

async function committed(): Promise<K8sObject[]> {
  return parseAllDocuments(await readFile(MANIFEST, 'utf8')).map((document) => document.toJSON() as K8sObject);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  assert.ok(found, `${kind} ${name} is in deploy/kubernetes/bazaar.yaml`);
  return found;
}

/** The pods a NetworkPolicy admits, as service names (`*` for anyone). */
function admitted(policy: K8sObject): Set<string> {
  const rules = policy.spec.ingress as Array<{ from?: Array<{ podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: unknown }> }>;
  const names = new Set<string>();
  for (const rule of rules) {
    if (!rule.from) names.add('*');
    for (const peer of rule.from ?? []) {
      const name = peer.podSelector?.matchLabels?.['app.kubernetes.io/name'];
      if (name && peer.namespaceSelector === undefined) names.add(name);
    }
  }
  return names;
}

describe('Kubernetes manifests (deploy/kubernetes/bazaar.yaml)', () => {
  it('are what the topology renders today (run `npm run kubernetes` after changing it)', async () => {
    assert.equal(await readFile(MANIFEST, 'utf8'), renderKubernetes());
  });

  it('validate against the Kubernetes API schema, and the check is live: a broken object is refused', () => {
    assert.ok(kubernetesObjects().length > serviceNames.length * 5);
    const broken = new Deployment({ metadata: { name: 'broken' }, spec: { replicas: 'two' as unknown as number, selector: {}, template: {} } });
    assert.throws(() => broken.validate(), /replicas/);
  });

  it('run every service of the topology on its port, probed on /healthz and /readyz', async () => {
    const objects = await committed();
    for (const name of serviceNames) {
      const deployment = find(objects, 'Deployment', name);
      const [container, ...others] = deployment.spec.template.spec.containers;
      assert.equal(others.length, 0);
      assert.deepEqual(container.command, ['node', `services/${name}/src/main.ts`]);
      assert.deepEqual(container.ports, [{ name: 'http', containerPort: topology[name].port, protocol: 'TCP' }]);
      const env = Object.fromEntries((container.env as Array<{ name: string; value: string }>).map((v) => [v.name, v.value]));
      assert.equal(env['PORT'], String(topology[name].port));
      assert.equal(env['SERVICE_NAME'], name);
      assert.equal(container.startupProbe.httpGet.path, '/healthz');
      assert.equal(container.livenessProbe.httpGet.path, '/healthz');
      assert.equal(container.readinessProbe.httpGet.path, '/readyz');
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) assert.equal(probe.httpGet.port, 'http');
      assert.ok(deployment.spec.replicas >= 2, `${name} runs at least two replicas`);
      assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);

      const service = find(objects, 'Service', name);
      assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
      assert.deepEqual(service.spec.ports, [{ name: 'http', port: topology[name].port, targetPort: 'http', protocol: 'TCP' }]);
      assert.equal(find(objects, 'PodDisruptionBudget', name).spec.maxUnavailable, 1);
      assert.equal(find(objects, 'HorizontalPodAutoscaler', name).spec.scaleTargetRef.name, name);
    }
  });

  it('point each <SERVICE>_URL at a Service of the file serving that port', async () => {
    const objects = await committed();
    for (const name of serviceNames) {
      const [container] = find(objects, 'Deployment', name).spec.template.spec.containers;
      const env = new Map((container.env as Array<{ name: string; value: string }>).map((v) => [v.name, v.value]));
      for (const dependency of topology[name].dependsOn) {
        const url = new URL(env.get(serviceUrlVariable(dependency)) ?? assert.fail(`${name} has no ${serviceUrlVariable(dependency)}`));
        const target = find(objects, 'Service', url.hostname);
        assert.equal(Number(url.port), target.spec.ports[0].port, `${name} → ${dependency}`);
        assert.equal(target.spec.selector['app.kubernetes.io/name'], dependency);
      }
      const urls = [...env.keys()].filter((variable) => variable.endsWith('_URL'));
      assert.equal(urls.length, topology[name].dependsOn.length, `${name} gets the URLs of its dependencies only`);
    }
  });

  it('let a pod reach a service exactly when the topology says it calls it (the gateway from anywhere)', async () => {
    const objects = await committed();
    const deny = find(objects, 'NetworkPolicy', 'default-deny-ingress');
    assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress'] });
    for (const callee of serviceNames) {
      const admits = admitted(find(objects, 'NetworkPolicy', callee));
      for (const caller of serviceNames) {
        if (caller === callee) continue;
        const calls = (topology[caller].dependsOn as readonly ServiceName[]).includes(callee);
        const reachable = admits.has('*') || admits.has(caller);
        assert.equal(reachable, calls || callee === 'gateway', `${caller} → ${callee}`);
      }
    }
  });

  it('give a pod time to drain: it keeps answering while its endpoint is withdrawn, in-flight requests finish, then the kill', async () => {
    const objects = await committed();
    const config = find(objects, 'ConfigMap', 'bazaar-config').data!;
    assert.equal(Number(config['SHUTDOWN_DELAY_MS']), DRAIN.delayMs);
    assert.equal(Number(config['SHUTDOWN_TIMEOUT_MS']), DRAIN.timeoutMs);
    for (const name of serviceNames) {
      const spec = find(objects, 'Deployment', name).spec;
      assert.ok(spec.template.spec.terminationGracePeriodSeconds * 1000 > DRAIN.delayMs + DRAIN.timeoutMs);
      assert.equal(spec.strategy.rollingUpdate.maxUnavailable, 0);
    }
  });

  it('read each service’s own Secret, and only a service without a database may lack one', async () => {
    const objects = await committed();
    for (const name of serviceNames) {
      const [container] = find(objects, 'Deployment', name).spec.template.spec.containers;
      const secrets = (container.envFrom as Array<{ secretRef?: { name: string; optional?: boolean } }>).flatMap((source) => (source.secretRef ? [source.secretRef] : []));
      const own = secrets.find((secret) => secret.name === `bazaar-${name}`);
      assert.ok(own, `${name} reads bazaar-${name}`);
      assert.equal(own.optional === true, topology[name].database === null, name);
      assert.ok(secrets.every((secret) => secret.name === `bazaar-${name}` || secret.name === 'bazaar-broker'), `${name} reads no other service's Secret`);
      assert.equal(container.securityContext.readOnlyRootFilesystem, true);
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    }
  });
});

describe('Istio overlay (deploy/kubernetes/istio/)', () => {
  const ISTIO = new URL('../../../deploy/kubernetes/istio/istio.yaml', import.meta.url);
  const istio = async () => parseAllDocuments(await readFile(ISTIO, 'utf8')).map((document) => document.toJSON() as K8sObject);

  it('is what the topology renders today, valid against Istio’s CRDs, and the check is live', async () => {
    assert.equal(await readFile(ISTIO, 'utf8'), renderIstio());
    assert.ok(istioObjects().length > serviceNames.length * 2);
    const broken = new AuthorizationPolicy({ metadata: { name: 'broken' }, spec: { action: 'MAYBE' as 'ALLOW' } });
    assert.throws(() => broken.validate(), /action/);
  });

  it('requires mutual TLS everywhere but at the gateway, which an ingress outside the mesh reaches', async () => {
    const objects = await istio();
    assert.deepEqual(find(objects, 'PeerAuthentication', 'default').spec, { mtls: { mode: 'STRICT' } });
    const gateway = find(objects, 'PeerAuthentication', 'gateway').spec;
    assert.equal(gateway.mtls.mode, 'PERMISSIVE');
    assert.equal(gateway.selector.matchLabels['app.kubernetes.io/name'], 'gateway');
  });

  it('authorises a workload to call a service exactly when the topology says it calls it, by its service account', async () => {
    const objects = await istio();
    const base = await committed();
    for (const callee of serviceNames) {
      const policy = find(objects, 'AuthorizationPolicy', callee).spec;
      assert.equal(policy.action, 'ALLOW');
      assert.equal(policy.selector.matchLabels['app.kubernetes.io/name'], callee);
      const rules = policy.rules as Array<{ from?: Array<{ source: { principals: string[] } }> }>;
      const anyone = rules.some((rule) => !rule.from);
      const principals = new Set(rules.flatMap((rule) => (rule.from ?? []).flatMap((from) => from.source.principals)));
      for (const caller of serviceNames) {
        if (caller === callee) continue;
        const account = find(base, 'Deployment', caller).spec.template.spec.serviceAccountName as string;
        find(base, 'ServiceAccount', account);
        const allowed = anyone || principals.has(`cluster.local/ns/bazaar/sa/${account}`);
        assert.equal(allowed, (topology[caller].dependsOn as readonly ServiceName[]).includes(callee) || callee === 'gateway', `${caller} → ${callee}`);
      }
    }
  });

  it('turns the mesh’s retries off for every service (the chassis retries within its budget)', async () => {
    const objects = await istio();
    for (const name of serviceNames) {
      const routes = find(objects, 'VirtualService', name).spec;
      assert.deepEqual(routes.hosts, [name]);
      for (const route of routes.http) assert.deepEqual(route.retries, { attempts: 0 });
    }
  });
});
