/**
 * The system's topology: one typed source of truth for which services exist,
 * where they listen, which database each owns, which routes the gateway sends
 * them and which services each one calls. The launcher, the gateway, the docs
 * and the architecture tests all read this file; nothing else hard-codes it.
 */

export type ServiceName = 'gateway' | 'identity' | 'catalog' | 'orders' | 'payments' | 'shipping' | 'notifications';

export interface ServiceDefinition {
  /** What the service is for, one line (shown in the README and the launcher). */
  readonly summary: string;
  /** Default port in the embedded runtime; production sets PORT. */
  readonly port: number;
  /** The database this service owns alone, or null for stateless services. */
  readonly database: string | null;
  /** Path prefixes the gateway routes to this service (longest prefix wins). */
  readonly routes: readonly string[];
  /** Services this one calls synchronously (HTTP). Each becomes a `<NAME>_URL` variable. */
  readonly dependsOn: readonly ServiceName[];
  /** Messages (contract names, see `@bazaar/contracts/messages`) this service writes to its outbox. */
  readonly publishes: readonly string[];
  /** Messages this service handles; its consumer group is the service name. */
  readonly consumes: readonly string[];
}

export const topology = {
  gateway: {
    summary: 'API gateway: routing, JWT at the edge, CORS, rate limits, aggregated OpenAPI',
    port: 8080,
    database: null,
    routes: [],
    dependsOn: ['identity', 'catalog', 'orders', 'payments', 'shipping', 'notifications'],
    publishes: [],
    consumes: [],
  },
  identity: {
    summary: 'Users, credentials, refresh tokens, addresses, roles; issues JWTs and publishes the JWKS',
    port: 8081,
    database: 'bazaar_identity',
    routes: ['/api/identity'],
    dependsOn: [],
    publishes: ['identity.user-registered.v1'],
    consumes: [],
  },
  catalog: {
    summary: 'Products, categories, prices and stock; full-text search; admin product and stock management',
    port: 8082,
    database: 'bazaar_catalog',
    routes: ['/api/catalog'],
    dependsOn: ['identity'],
    publishes: [
      'catalog.product-changed.v1',
      'catalog.stock-changed.v1',
      'catalog.reserve-stock-result.v1',
      'catalog.commit-stock-result.v1',
      'catalog.release-stock-result.v1',
    ],
    consumes: ['catalog.reserve-stock.v1', 'catalog.commit-stock.v1', 'catalog.release-stock.v1'],
  },
  orders: {
    summary: 'Event-sourced orders with their read models; orchestrates the checkout saga',
    port: 8083,
    database: 'bazaar_orders',
    routes: ['/api/orders'],
    dependsOn: ['identity', 'catalog', 'payments'],
    publishes: [
      'orders.order-confirmed.v1',
      'orders.order-cancelled.v1',
      'catalog.reserve-stock.v1',
      'catalog.commit-stock.v1',
      'catalog.release-stock.v1',
      'payments.authorize-payment.v1',
      'payments.capture-payment.v1',
      'payments.void-payment.v1',
      'payments.refund-payment.v1',
      'shipping.create-shipment.v1',
      'shipping.cancel-shipment.v1',
    ],
    consumes: [
      'catalog.reserve-stock-result.v1',
      'catalog.commit-stock-result.v1',
      'catalog.release-stock-result.v1',
      'payments.authorize-payment-result.v1',
      'payments.capture-payment-result.v1',
      'payments.void-payment-result.v1',
      'payments.refund-payment-result.v1',
      'shipping.create-shipment-result.v1',
      'shipping.cancel-shipment-result.v1',
    ],
  },
  payments: {
    summary: 'A simulated card processor: tokens, authorize, capture, void, refund; brand and last four only',
    port: 8084,
    database: 'bazaar_payments',
    routes: ['/api/payments'],
    dependsOn: ['identity'],
    publishes: [
      'payments.authorize-payment-result.v1',
      'payments.capture-payment-result.v1',
      'payments.void-payment-result.v1',
      'payments.refund-payment-result.v1',
      'payments.payment-refunded.v1',
    ],
    consumes: ['payments.authorize-payment.v1', 'payments.capture-payment.v1', 'payments.void-payment.v1', 'payments.refund-payment.v1'],
  },
  shipping: {
    summary: 'A simulated carrier: shipments with tracking numbers, cancelled or dispatched',
    port: 8085,
    database: 'bazaar_shipping',
    routes: ['/api/shipments'],
    dependsOn: ['identity'],
    publishes: ['shipping.create-shipment-result.v1', 'shipping.cancel-shipment-result.v1', 'shipping.shipment-dispatched.v1'],
    consumes: ['shipping.create-shipment.v1', 'shipping.cancel-shipment.v1', 'orders.order-confirmed.v1'],
  },
  notifications: {
    summary: 'Messages to customers (welcome, order and shipment news); an inbox per customer',
    port: 8086,
    database: 'bazaar_notifications',
    routes: ['/api/notifications'],
    dependsOn: ['identity'],
    publishes: [],
    consumes: [
      'identity.user-registered.v1',
      'orders.order-confirmed.v1',
      'orders.order-cancelled.v1',
      'shipping.shipment-dispatched.v1',
      'payments.payment-refunded.v1',
    ],
  },
} as const satisfies Record<ServiceName, ServiceDefinition>;

export const serviceNames = Object.keys(topology) as ServiceName[];

/** Services that handle messages (each is a consumer group of that name). */
export const consumingServices = serviceNames.filter((name) => topology[name].consumes.length > 0);

/** Who publishes and who consumes `message` (a contract name). */
export function messageFlow(message: string): { publishers: ServiceName[]; consumers: ServiceName[] } {
  return {
    publishers: serviceNames.filter((name) => (topology[name].publishes as readonly string[]).includes(message)),
    consumers: serviceNames.filter((name) => (topology[name].consumes as readonly string[]).includes(message)),
  };
}

/** Every consumer group (a consuming service) with the messages it handles: what brokers declare at start. */
export function messageFlows(): { groups: Record<string, readonly string[]> } {
  return { groups: Object.fromEntries(consumingServices.map((name) => [name, topology[name].consumes])) };
}

/** The database of the embedded broker (one more database on the embedded server). */
export const BROKER_DATABASE = 'bazaar_broker';

/** Services the gateway fronts (every service with routes). */
export const routedServices = serviceNames.filter((name) => topology[name].routes.length > 0);

/** Name of the environment variable holding the base URL of `service`, e.g. `CATALOG_URL`. */
export function serviceUrlVariable(service: ServiceName): string {
  return `${service.toUpperCase()}_URL`;
}

/** Name of the environment variable holding the connection string of `service`'s own database. */
export function databaseUrlVariable(service: ServiceName): string {
  return `${service.toUpperCase()}_DATABASE_URL`;
}

export interface RouteEntry {
  readonly prefix: string;
  readonly service: ServiceName;
}

/** Every routed prefix, longest first, so the first match is the most specific. */
export function routeTable(): RouteEntry[] {
  return routedServices
    .flatMap((service) => topology[service].routes.map((prefix) => ({ prefix, service })))
    .sort((a, b) => b.prefix.length - a.prefix.length);
}

/** The route entry that owns `path` (prefixes match whole segments), or undefined. */
export function routeFor(path: string, table: readonly RouteEntry[] = routeTable()): RouteEntry | undefined {
  for (const entry of table) {
    const end = entry.prefix.length;
    if (path.startsWith(entry.prefix) && (path.length === end || path[end] === '/' || path[end] === '?')) return entry;
  }
  return undefined;
}

/** The service that owns `path`, or undefined when no declared prefix matches. */
export function serviceForPath(path: string, table: readonly RouteEntry[] = routeTable()): ServiceName | undefined {
  return routeFor(path, table)?.service;
}

/** Services in an order where each comes after every service it depends on. */
export function startOrder(names: readonly ServiceName[] = serviceNames): ServiceName[] {
  const ordered: ServiceName[] = [];
  const visiting = new Set<ServiceName>();
  const visit = (name: ServiceName): void => {
    if (ordered.includes(name)) return;
    if (visiting.has(name)) throw new Error(`dependency cycle through service "${name}"`);
    visiting.add(name);
    for (const dependency of topology[name].dependsOn) visit(dependency);
    visiting.delete(name);
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered;
}

export * from './call-policies.ts';
