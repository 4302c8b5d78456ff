import type { ServiceModule } from '@bazaar/chassis';
import { CatalogConfig } from './config.ts';
import { seedDemoCatalog } from './persistence/demo-catalog.ts';
import { catalogRoutes } from './routes/catalog-routes.ts';

export const catalogService: ServiceModule<typeof CatalogConfig> = {
  name: 'catalog',
  title: 'Bazaar catalog',
  description: 'Products, categories, prices and stock. Public browsing and search; admin product and stock management.',
  configSchema: CatalogConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: catalogRoutes,
  async onStart({ config, db, log }) {
    if (config.CATALOG_SEED_DEMO && db) {
      const seeded = await seedDemoCatalog(db);
      if (seeded) log.info({ products: seeded }, 'demo catalog seeded');
    }
  },
};
