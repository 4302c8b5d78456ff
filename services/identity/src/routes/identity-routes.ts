import type { ServiceApp } from '@bazaar/chassis';
import { accountRoutes } from './account-routes.ts';
import type { IdentityDeps } from './context.ts';
import { keyRoutes } from './key-routes.ts';
import { sessionRoutes } from './session-routes.ts';

export const IDENTITY_PREFIX = '/api/identity';

/** Every identity route, under /api/identity. Bodies are JSON only. */
export async function identityRoutes(app: ServiceApp, deps: IdentityDeps): Promise<void> {
  await app.register(
    async (api) => {
      // Fastify parses text/plain by default; this API takes JSON only, so anything else answers 415.
      api.removeContentTypeParser('text/plain');
      sessionRoutes(api, deps);
      accountRoutes(api, deps);
      keyRoutes(api, deps);
    },
    { prefix: IDENTITY_PREFIX },
  );
}
