import { extendConfig, Type } from '@bazaar/chassis';

export const ShippingConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
});
