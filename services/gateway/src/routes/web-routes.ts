import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { ServiceApp, UpstreamClient } from '@bazaar/chassis';
import { routeTable, type ServiceName } from '@bazaar/topology';

/** The storefront's files: plain ES modules and a stylesheet, served as they are (no build step; ADR 0021). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
export const WEB_PREFIX = '/app/';
const PRODUCT_IMAGE = /^([a-z0-9][a-z0-9-]{0,63})\.svg$/;
/** What of the web folder a browser gets: the page's modules, stylesheet and page; not its tests or tsconfig. */
const SERVED = /^[^.]+\.(js|css|html)$/;

/** Whether a path under /app/ is one of the files the page is made of. */
export function isServedFile(path: string): boolean {
  const name = path.split('/').pop() ?? '';
  return SERVED.test(name);
}

/** Paths that only serve the web app's own files: no upstream behind them, so no rate limit on them. */
export function isWebAsset(url: string): boolean {
  return url.startsWith(WEB_PREFIX) || url.startsWith('/images/products/');
}

export interface WebRoutesOptions {
  upstreams: ReadonlyMap<ServiceName, UpstreamClient>;
  /** Where traces can be seen, if anywhere: the index names it, and the web app links orders to it. */
  traceConsoleUrl?: string | undefined;
}

/**
 * The web app. `GET /` answers the storefront page to a browser (a request that
 * accepts HTML) and the gateway's JSON index to anything else; `/app/*` serves
 * the page's modules with ETags, revalidated on every load; and the demo
 * catalog's product images (`/images/products/<sku>.svg`, as the seed names
 * them) are drawn from the SKU.
 */
export async function installWebRoutes(app: ServiceApp, options: WebRoutesOptions): Promise<void> {
  await app.register(fastifyStatic, {
    root: WEB_ROOT,
    prefix: WEB_PREFIX,
    index: false,
    // Unhashed file names: the browser asks again each load and gets 304 while nothing changed.
    cacheControl: false,
    etag: true,
    lastModified: true,
    serveDotFiles: false,
    allowedPath: (path) => isServedFile(path),
    setHeaders: (reply) => reply.header('cache-control', 'no-cache'),
    schemaHide: true,
  });

  // The gateway's index: what API clients get at `/`. Fixed for the process's life.
  const index = {
    name: 'Bazaar API gateway',
    app: '/',
    docs: '/docs',
    ...(options.traceConsoleUrl ? { traces: options.traceConsoleUrl } : {}),
    services: Object.fromEntries([...options.upstreams.keys()].map((service) => [service, routeTable().filter((r) => r.service === service).map((r) => r.prefix)])),
  };
  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    if (prefersHtml(request.headers.accept)) return reply.header('cache-control', 'no-cache').sendFile('index.html');
    return index;
  });

  app.get<{ Params: { file: string } }>('/images/products/:file', { schema: { hide: true } }, async (request, reply) => {
    const sku = PRODUCT_IMAGE.exec(request.params.file)?.[1];
    if (!sku) return reply.callNotFound();
    return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(productImage(sku));
  });
}

/** Whether an Accept header asks for a page rather than data: HTML named before any JSON, as browsers send it. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase());
  const html = types.findIndex((type) => type === 'text/html' || type === 'application/xhtml+xml');
  if (html < 0) return false;
  const json = types.findIndex((type) => type === 'application/json' || type === 'application/problem+json');
  return json < 0 || html < json;
}

/** A deterministic picture for a SKU: a tile in a colour of its own, the SKU written on it. */
export function productImage(sku: string): string {
  const hue = ((createHash('sha256').update(sku).digest()[0]! * 360) / 256).toFixed(0);
  const [head = sku, ...rest] = sku.toUpperCase().split('-');
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 240" role="img">',
    `<rect width="320" height="240" fill="hsl(${hue} 55% 88%)"/>`,
    `<circle cx="250" cy="60" r="90" fill="hsl(${hue} 55% 78%)"/>`,
    `<text x="160" y="140" text-anchor="middle" font-family="system-ui, sans-serif" font-size="64" font-weight="700" fill="hsl(${hue} 45% 30%)">${head.slice(0, 6)}</text>`,
    `<text x="160" y="185" text-anchor="middle" font-family="system-ui, sans-serif" font-size="28" fill="hsl(${hue} 45% 35%)">${rest.join('-').slice(0, 16)}</text>`,
    '</svg>',
  ].join('');
}
