import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { FastifyInstance } from 'fastify';

/** The options of every service's router (Fastify's `routerOptions`), shared with the index below so both match alike. */
export const ROUTER_OPTIONS = { ignoreTrailingSlash: true, maxParamLength: 256 } as const;

/**
 * Which methods a path answers, for the not-found handler to tell "no such path"
 * (404 ROUTE_NOT_FOUND) from "no such method on it" (405 METHOD_NOT_ALLOWED with
 * `Allow`, RFC 9110 §15.5.6). A router of its own, fed every route the service
 * registers, matching paths as Fastify's does. OPTIONS routes are left out: the
 * gateway's CORS plugin answers OPTIONS on every path, which says nothing about the
 * methods of a resource.
 */
export function indexRouteMethods(app: FastifyInstance): (path: string) => string[] {
  const router = FindMyWay(ROUTER_OPTIONS);
  const methods = new Set<HTTPMethod>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat().map((name) => name.toUpperCase() as HTTPMethod)) {
      if (method === 'OPTIONS' || router.hasRoute(method, route.url)) continue;
      router.on(method, route.url, () => {});
      methods.add(method);
    }
  });
  return (path) => [...methods].filter((method) => router.find(method, path) !== null).sort();
}
