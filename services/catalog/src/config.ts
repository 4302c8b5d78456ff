import { Type, extendConfig } from '@bazaar/chassis';

export const CatalogConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
  /** Seed the demo catalog into an empty database at start (the embedded runtime turns it on). */
  CATALOG_SEED_DEMO: Type.Boolean({ default: false }),
});
