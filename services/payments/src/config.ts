import { extendConfig, Type } from '@bazaar/chassis';

export const PaymentsConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
  /** How long the slow test card (4000 0000 0000 0259) takes to authorize. */
  PAYMENTS_SLOW_CARD_DELAY_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 3_000 }),
});
