import { freshDatabase } from '@bazaar/runtime/testing/databases';
import { PostgresRegistry } from './postgres-registry.ts';
import { registryConformance } from './testing/registry-conformance.ts';

/** The conformance suite against the test PostgreSQL, in a database of its own (as the embedded broker's would be). */
registryConformance('PostgreSQL', async () => {
  const { url, drop } = await freshDatabase('registry');
  return {
    connect: async (ttlMs) => new PostgresRegistry(url, { ttlMs, connectionName: 'registry-conformance' }),
    cleanup: drop,
  };
});
