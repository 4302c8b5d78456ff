/**
 * The Kubernetes manifests (deploy/kubernetes/bazaar.yaml), run the way a kubelet
 * runs them, as local processes: every Deployment's container command, with the
 * environment its `env` and `envFrom` give it (the rendered ConfigMap, Secrets made
 * here as an operator would: a database per service on the test PostgreSQL, NATS as
 * the broker), all pods started at once, ready when their own probes say so. The only
 * liberty taken: a Service's DNS name and port (`http://catalog:8082`) become
 * 127.0.0.1 and a free port, as cluster DNS and kube-proxy would route them.
 *
 * No cluster runs here (no container engine, no images); this proves what the
 * manifests decide: that the variables they set are the ones each service reads, that
 * nothing a service needs is missing, that the probes answer, and that the system
 * they describe works end to end (a checkout confirms), and drains on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { NatsBroker, createDatabaseIfMissing, databaseUrl, loadConfig } from '@bazaar/chassis';
import { testNatsUrl } from '@bazaar/chassis/testing/nats';
import { freePort } from '@bazaar/runtime/ports';
import { dropDatabase, testServerUrl } from '@bazaar/runtime/testing/databases';
import { eventually } from '@bazaar/runtime/testing/eventually';
import { serviceNames, topology, type ServiceName } from '@bazaar/topology';
import { checkInvariants } from '../scripts/invariants.ts';
import { newCustomer, newProduct, openShopAt, placeOrder, settled, stockOf } from './fixtures/checkout.ts';
import { serviceModule } from './fixtures/service-modules.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

interface Container {
  name: string;
  command: string[];
  env: Array<{ name: string; value: string }>;
  envFrom: Array<{ configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }>;
  ports: Array<{ name: string; containerPort: number }>;
  startupProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
}

interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template: { spec: { containers: Container[]; terminationGracePeriodSeconds: number } } };
}

async function manifests(): Promise<Manifest[]> {
  const text = await readFile(join(root, 'deploy/kubernetes/bazaar.yaml'), 'utf8');
  return parseAllDocuments(text).map((document) => document.toJSON() as Manifest);
}

function containerOf(objects: Manifest[], service: ServiceName): { container: Container; gracePeriodSeconds: number } {
  const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === service);
  assert.ok(deployment?.spec, `a Deployment for ${service}`);
  const [container] = deployment.spec.template.spec.containers;
  return { container: container!, gracePeriodSeconds: deployment.spec.template.spec.terminationGracePeriodSeconds };
}

/**
 * What the kubelet gives the container: every `envFrom` source in order (a missing
 * source that is not optional stops the pod, as CreateContainerConfigError does),
 * then `env`, which wins.
 */
function podEnvironment(container: Container, sources: { configMaps: Record<string, Record<string, string>>; secrets: Record<string, Record<string, string>> }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom) {
    const ref = source.configMapRef ?? source.secretRef!;
    const data = (source.configMapRef ? sources.configMaps : sources.secrets)[ref.name];
    if (!data) {
      assert.ok(ref.optional, `${container.name} needs ${source.configMapRef ? 'ConfigMap' : 'Secret'} ${ref.name}`);
      continue;
    }
    Object.assign(env, data);
  }
  for (const variable of container.env) env[variable.name] = variable.value;
  return env;
}

/**
 * `KUBERNETES_TEST_IMAGE` set (`npm run image:check` sets it): each pod is a container
 * of that image, run by `KUBERNETES_TEST_PODMAN` (default `podman`) as the manifests
 * ask: read-only root, a /tmp, no capabilities, the image's user; the host's network,
 * which stands in for the pod network. Unset: a process of this checkout, whose root is
 * laid out as the image's WORKDIR.
 */
const IMAGE = process.env['KUBERNETES_TEST_IMAGE'];
const PODMAN = (process.env['KUBERNETES_TEST_PODMAN'] ?? 'podman').split(/\s+/).filter(Boolean);

function startContainer(name: string, command: string[], env: Record<string, string>): ChildProcess {
  const [executable, ...args] = command;
  assert.equal(executable, 'node');
  if (!IMAGE) return spawn(process.execPath, args, { cwd: root, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = ['run', '--rm', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
  for (const [key, value] of Object.entries(env)) run.push('--env', `${key}=${value}`);
  return spawn(PODMAN[0]!, [...PODMAN.slice(1), ...run, IMAGE, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function stopContainer(name: string, child: ChildProcess): void {
  child.kill('SIGKILL');
  if (IMAGE) spawnSync(PODMAN[0]!, [...PODMAN.slice(1), 'rm', '--force', '--time', '0', name], { stdio: 'ignore' });
}

describe('deploy/kubernetes/bazaar.yaml, run as a kubelet would', () => {
  const prefix = `k8s${randomUUID().slice(0, 8)}`;
  const admin = { email: 'ops@bazaar.test', password: `Adm-${randomBytes(12).toString('base64url')}` };
  const databases: Partial<Record<ServiceName, { name: string; url: string }>> = {};
  const pods = new Map<ServiceName, { child: ChildProcess; output: string[]; port: number; container: Container; gracePeriodSeconds: number }>();
  let objects: Manifest[];
  let sources: { configMaps: Record<string, Record<string, string>>; secrets: Record<string, Record<string, string>> };
  let gateway: string;

  before(async () => {
    objects = await manifests();
    const server = testServerUrl();
    // What an operator creates before `kubectl apply -k deploy/kubernetes` (docs/kubernetes.md).
    const secrets: Record<string, Record<string, string>> = { 'bazaar-broker': { BROKER_URL: testNatsUrl() } };
    for (const name of serviceNames) {
      if (!topology[name].database) continue;
      const database = `t_k8s_${name}_${randomBytes(3).toString('hex')}`;
      await createDatabaseIfMissing(server, database);
      databases[name] = { name: database, url: databaseUrl(server, database) };
      secrets[`bazaar-${name}`] = { DATABASE_URL: databases[name].url };
    }
    secrets['bazaar-identity'] = { ...secrets['bazaar-identity'], BAZAAR_ADMIN_EMAIL: admin.email, BAZAAR_ADMIN_PASSWORD: admin.password };
    const configMaps: Record<string, Record<string, string>> = Object.fromEntries(objects.filter((object) => object.kind === 'ConfigMap').map((object) => [object.metadata.name, object.data ?? {}]));
    // Per-service settings, through the optional ConfigMaps the manifests read: this test's
    // own NATS subjects, the demo categories, and limits that one test address would hit.
    for (const name of serviceNames) configMaps[`bazaar-${name}-config`] = { BROKER_PREFIX: prefix };
    configMaps['bazaar-catalog-config']!['CATALOG_SEED_DEMO'] = 'true';
    Object.assign(configMaps['bazaar-gateway-config']!, { RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_PER_USER_PER_MINUTE: '1000000' });
    sources = { configMaps, secrets };
  });

  after(async () => {
    for (const [name, pod] of pods) stopContainer(`bazaar-${prefix}-${name}`, pod.child);
    await Promise.all([...pods.values()].map((pod) => (pod.child.exitCode === null && pod.child.signalCode === null ? new Promise((resolve) => pod.child.once('exit', resolve)) : undefined)));
    const server = testServerUrl();
    for (const database of Object.values(databases)) await dropDatabase(server, database.name);
    const nats = new NatsBroker(testNatsUrl(), { prefix });
    await nats.deleteStreams().finally(() => nats.close());
  });

  it('set only variables each service reads, and each service’s configuration loads from them', async () => {
    const shared = new Set(Object.keys(sources.configMaps['bazaar-config']!));
    const schemas = new Map(await Promise.all(serviceNames.map(async (name) => [name, (await serviceModule(name)).configSchema] as const)));
    for (const [name, schema] of schemas) {
      const { container } = containerOf(objects, name);
      const env = podEnvironment(container, sources);
      const declared = new Set([...Object.keys(schema.properties), 'DATABASE_URL']);
      for (const variable of Object.keys(env)) {
        // The shared ConfigMap holds a few settings for some services only (CATALOG_SEED_DEMO): read by at least one.
        if (shared.has(variable) && !declared.has(variable)) continue;
        assert.ok(declared.has(variable), `${name} does not read ${variable}, which its Deployment sets`);
      }
      assert.doesNotThrow(() => loadConfig(schema, env), `${name}'s configuration from its pod environment`);
    }
    for (const variable of shared) {
      assert.ok([...schemas.values()].some((schema) => variable in schema.properties), `some service reads ${variable} of the shared ConfigMap`);
    }
  });

  it('starts every pod at once, each ready by its own probes, and a checkout confirms through the gateway', async (t) => {
    t.diagnostic(IMAGE ? `pods are containers of ${IMAGE} (${PODMAN.join(' ')})` : 'pods are processes of this checkout (KUBERNETES_TEST_IMAGE unset)');
    const ports = Object.fromEntries(await Promise.all(serviceNames.map(async (name) => [name, await freePort()]))) as Record<ServiceName, number>;
    // Cluster DNS and kube-proxy, played by a rewrite: http://<service>:<port> → 127.0.0.1 and its pod's port.
    const routed = (value: string) =>
      value.replace(/^http:\/\/([a-z]+):(\d+)$/, (whole, host: string, port: string) =>
        serviceNames.includes(host as ServiceName) && topology[host as ServiceName].port === Number(port) ? `http://127.0.0.1:${ports[host as ServiceName]}` : whole,
      );
    for (const name of serviceNames) {
      const { container, gracePeriodSeconds } = containerOf(objects, name);
      const env = Object.fromEntries(Object.entries(podEnvironment(container, sources)).map(([key, value]) => [key, routed(value)]));
      assert.equal(env['PORT'], String(container.ports[0]!.containerPort));
      env['PORT'] = String(ports[name]);
      const child = startContainer(`bazaar-${prefix}-${name}`, container.command, env);
      const output: string[] = [];
      child.stdout!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n')));
      child.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n')));
      pods.set(name, { child, output, port: ports[name], container, gracePeriodSeconds });
    }
    const probe = async (port: number, path: string) => {
      const answer = await request(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
      await answer?.body.dump();
      return answer?.statusCode;
    };
    for (const [name, pod] of pods) {
      const exited = () => (pod.child.exitCode !== null ? `${name} exited with ${pod.child.exitCode}:\n${pod.output.slice(-30).join('\n')}` : undefined);
      await eventually(async () => exited() ?? ((await probe(pod.port, pod.container.startupProbe.httpGet.path)) === 200 || undefined), `${name} passes its startup probe`, 60_000, 200);
      assert.equal(exited(), undefined);
      await eventually(async () => (await probe(pod.port, pod.container.readinessProbe.httpGet.path)) === 200 || undefined, () => `${name} passes its readiness probe:\n${pod.output.slice(-20).join('\n')}`, 60_000, 200);
    }

    gateway = `http://127.0.0.1:${ports.gateway}`;
    const shop = await openShopAt(gateway, admin);
    const buyer = await newCustomer(shop);
    const product = await newProduct(shop, 3, 990);
    const search = await shop.api(`/api/catalog/products?q=${encodeURIComponent('Test mug')}`);
    assert.equal(search.status, 200, search.text);
    const placed = await placeOrder(shop, buyer.token, [{ productId: product, quantity: 1 }]);
    assert.equal(placed.status, 202, placed.text);
    const order = await settled(shop, buyer.token, placed.body.id);
    assert.equal(order.status, 'CONFIRMED', JSON.stringify(order));
    assert.deepEqual(await stockOf(shop, product), { onHand: 2, reserved: 0, available: 2 });
    const report = await checkInvariants(
      { orders: databases.orders!.url, catalog: databases.catalog!.url, payments: databases.payments!.url, shipping: databases.shipping!.url, notifications: databases.notifications!.url },
      { graceMs: 0 },
    );
    assert.deepEqual(report.violations, []);
  });

  it('drains a pod on SIGTERM: readiness fails at once, the pod still answers, then exits 0 within its grace period', async () => {
    const pod = pods.get('catalog');
    assert.ok(pod && pod.child.exitCode === null, 'catalog runs (the test before started it)');
    const exited = new Promise<number | null>((resolve) => pod.child.once('exit', (code) => resolve(code)));
    const signalled = Date.now();
    pod.child.kill('SIGTERM');
    await eventually(async () => {
      const answer = await request(`http://127.0.0.1:${pod.port}${pod.container.readinessProbe.httpGet.path}`);
      await answer.body.dump();
      return answer.statusCode === 503 || undefined;
    }, 'catalog’s readiness answers 503 once it drains', 2_000, 20);
    const served = await request(`http://127.0.0.1:${pod.port}/api/catalog/categories`);
    assert.equal(served.statusCode, 200, 'requests still routed to the draining pod are served');
    await served.body.dump();
    assert.equal(await exited, 0);
    assert.ok(Date.now() - signalled < pod.gracePeriodSeconds * 1000, 'exits before the kubelet would kill it');
  });
});
