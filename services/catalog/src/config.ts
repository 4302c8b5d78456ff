import { Type, extendConfig } from '@bazaar/chassis';

export const CatalogConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
  /** Seed the demo catalog into an empty database at start (the embedded runtime turns it on). */
  CATALOG_SEED_DEMO: Type.Boolean({ default: false }),
  /** How often lapsed reservations are expired and their stock made available again. */
  RESERVATION_SWEEP_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 1000 }),
});
