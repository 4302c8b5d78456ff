import type { ServiceModule } from '@bazaar/chassis';
import { CatalogConfig } from './config.ts';
import { catalogHandlers } from './handlers/message-handlers.ts';
import { seedDemoCatalog } from './persistence/demo-catalog.ts';
import { startReservationSweeper } from './reservation-sweeper.ts';
import { catalogRoutes } from './routes/catalog-routes.ts';

// The sweeper of the running process (one per process; onStop has no context to carry it).
let sweeper: { stop(): Promise<void> } | undefined;

export const catalogService: ServiceModule<typeof CatalogConfig> = {
  name: 'catalog',
  title: 'Bazaar catalog',
  description: 'Products, categories, prices and stock. Public browsing and search; admin product and stock management; stock reservations for checkout.',
  configSchema: CatalogConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: catalogRoutes,
  messageHandlers: catalogHandlers,
  async onStart({ config, db, log, outbox }) {
    if (!db) return;
    if (config.CATALOG_SEED_DEMO) {
      const seeded = await seedDemoCatalog(db);
      if (seeded) log.info({ products: seeded }, 'demo catalog seeded');
    }
    await sweeper?.stop();
    sweeper = startReservationSweeper({ db, outbox, log, everyMs: config.RESERVATION_SWEEP_MS });
  },
  async onStop() {
    await sweeper?.stop();
    sweeper = undefined;
  },
};
