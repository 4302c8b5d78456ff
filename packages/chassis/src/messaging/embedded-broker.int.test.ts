import { freshDatabase } from '../../../runtime/src/testing/databases.ts';
import { EmbeddedBroker } from './embedded-broker.ts';
import { brokerConformance } from './testing/broker-conformance.ts';

brokerConformance('embedded (PostgreSQL)', async () => {
  const database = await freshDatabase('broker');
  return {
    connect: async (options) => new EmbeddedBroker(database.url, { ...options, pollMs: 1_000 }),
    cleanup: () => database.drop(),
  };
});
