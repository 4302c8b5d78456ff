import type { ServiceModule } from '@bazaar/chassis';
import { ShippingConfig } from './config.ts';
import { shippingHandlers } from './handlers/message-handlers.ts';
import { shipmentRoutes } from './routes/shipment-routes.ts';

export const shippingService: ServiceModule<typeof ShippingConfig> = {
  name: 'shipping',
  title: 'Bazaar shipping',
  description: 'A simulated carrier, Bazaar Post: books a shipment for each order at checkout, cancels it when checkout is compensated, dispatches it once the order is confirmed.',
  configSchema: ShippingConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: shipmentRoutes,
  messageHandlers: () => shippingHandlers(),
};
