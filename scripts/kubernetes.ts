/**
 * `npm run kubernetes`: writes the system's Kubernetes manifests, rendered from the
 * topology (`@bazaar/deploy`): deploy/kubernetes/bazaar.yaml and the Istio overlay's
 * deploy/kubernetes/istio/istio.yaml. `--check` writes nothing and exits 1 when a
 * file differs from what would be written (the unit tests of @bazaar/deploy check
 * the same).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { renderIstio, renderKubernetes } from '@bazaar/deploy';

export const RENDERED = [
  { path: 'deploy/kubernetes/bazaar.yaml', render: renderKubernetes },
  { path: 'deploy/kubernetes/istio/istio.yaml', render: renderIstio },
];

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
let stale = 0;
for (const file of RENDERED) {
  const url = new URL(`../${file.path}`, import.meta.url);
  const rendered = file.render();
  if (!values.check) {
    await writeFile(url, rendered);
    process.stdout.write(`wrote ${file.path}\n`);
  } else if ((await readFile(url, 'utf8').catch(() => '')) !== rendered) {
    process.stderr.write(`${file.path} differs from the topology: run \`npm run kubernetes\`\n`);
    stale++;
  } else {
    process.stdout.write(`${file.path} matches the topology\n`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
