import { AppError, Type, type ServiceApp, type UpstreamClient } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';
import { routeFor, routeTable, type ServiceName } from '@bazaar/topology';

const HOME_PATH = '/api/storefront/home';
const FEATURED_COUNT = 8;
const RECENT_ORDERS = 5;

export interface StorefrontOptions {
  upstreams: ReadonlyMap<ServiceName, UpstreamClient>;
  /** How long each part may take before the page is answered without it. */
  partTimeoutMs: number;
}

interface Part {
  name: 'categories' | 'featured' | 'recentOrders';
  service: ServiceName;
  path: string;
  /** Parts the caller must be signed in for; skipped for anonymous callers. */
  personal?: boolean;
}

const parts: readonly Part[] = [
  { name: 'categories', service: 'catalog', path: '/api/catalog/categories' },
  { name: 'featured', service: 'catalog', path: `/api/catalog/products?page=1&pageSize=${FEATURED_COUNT}` },
  { name: 'recentOrders', service: 'orders', path: `/api/orders?page=1&pageSize=${RECENT_ORDERS}`, personal: true },
];

const Missing = Type.Object({
  part: Type.String(),
  service: Type.String(),
  code: Type.String({ description: 'Why it is missing: the problem code of the failed call (UPSTREAM_CIRCUIT_OPEN, UPSTREAM_TIMEOUT, …)' }),
});

/**
 * `GET /api/storefront/home`: what the storefront's home page shows, in one
 * call — the categories and featured products from catalog and, for a signed-in
 * caller, their recent orders from orders. The parts are fetched in parallel,
 * each on its own deadline and through its service's breaker; a part that fails
 * is `null` and listed in `missing` with the reason, so the page renders what is
 * up (`partial: true`). Only when every part fails is the answer a 503.
 */
export function installStorefrontRoutes(app: ServiceApp, options: StorefrontOptions): void {
  const shadowedBy = routeFor(HOME_PATH, routeTable());
  if (shadowedBy) throw new Error(`the topology routes ${shadowedBy.prefix} to ${shadowedBy.service}, which hides the gateway's own ${HOME_PATH}`);

  app.get(
    HOME_PATH,
    {
      onRequest: app.identify,
      schema: {
        tags: ['storefront'],
        summary: 'The storefront home in one call: categories, featured products and (signed in) recent orders; partial when a service is down',
        response: {
          200: Type.Object({
            categories: Type.Union([Type.Array(Type.Unknown()), Type.Null()]),
            featured: Type.Union([Type.Array(Type.Unknown()), Type.Null()]),
            recentOrders: Type.Union([Type.Array(Type.Unknown()), Type.Null()], { description: 'null for anonymous callers (not in `missing`) or when orders failed (in `missing`)' }),
            partial: Type.Boolean(),
            missing: Type.Array(Missing),
          }),
        },
      },
    },
    async (request) => {
      const signedIn = request.principal !== undefined;
      const wanted = parts.filter((part) => signedIn || !part.personal);
      const results = await Promise.all(
        wanted.map(async (part) => {
          try {
            const headers: Record<string, string> = {};
            if (part.personal && request.headers.authorization) headers['authorization'] = request.headers.authorization;
            const answer = await options.upstreams.get(part.service)!.requestJson<{ items: unknown[] }>({ path: part.path, headers, timeoutMs: options.partTimeoutMs });
            if (answer.status !== 200) throw new AppError('UPSTREAM_UNAVAILABLE', `${part.service} answered ${answer.status}`);
            return { part, items: answer.body.items, code: undefined };
          } catch (error) {
            const code: ErrorCode = error instanceof AppError ? error.code : 'UPSTREAM_UNAVAILABLE';
            request.log.warn({ part: part.name, service: part.service, code, reason: (error as Error).message }, 'storefront part unavailable');
            return { part, items: undefined, code };
          }
        }),
      );
      const missing = results.flatMap((r) => (r.code ? [{ part: r.part.name, service: r.part.service, code: r.code }] : []));
      if (missing.length === wanted.length) {
        throw new AppError('SERVICE_UNAVAILABLE', `nothing of the storefront could be fetched (${missing.map((m) => `${m.service}: ${m.code}`).join(', ')})`, { headers: { 'retry-after': '1' } });
      }
      const found = Object.fromEntries(results.flatMap((r) => (r.items ? [[r.part.name, r.items]] : [])));
      return {
        categories: found['categories'] ?? null,
        featured: found['featured'] ?? null,
        recentOrders: found['recentOrders'] ?? null,
        partial: missing.length > 0,
        missing,
      };
    },
  );
}
