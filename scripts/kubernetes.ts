/**
 * `npm run kubernetes`: writes the system's Kubernetes manifests, rendered from the
 * topology (`@bazaar/deploy`), to deploy/kubernetes/bazaar.yaml. `--check` writes
 * nothing and exits 1 when the file differs from what would be written (the unit
 * test of @bazaar/deploy checks the same).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { renderKubernetes } from '@bazaar/deploy';

export const MANIFEST_PATH = new URL('../deploy/kubernetes/bazaar.yaml', import.meta.url);

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
const rendered = renderKubernetes();
if (values.check) {
  const current = await readFile(MANIFEST_PATH, 'utf8').catch(() => '');
  if (current !== rendered) {
    process.stderr.write('deploy/kubernetes/bazaar.yaml differs from the topology: run `npm run kubernetes`\n');
    process.exit(1);
  }
  process.stdout.write('deploy/kubernetes/bazaar.yaml matches the topology\n');
} else {
  await writeFile(MANIFEST_PATH, rendered);
  process.stdout.write('wrote deploy/kubernetes/bazaar.yaml\n');
}
