import type { ServiceModule } from '@bazaar/chassis';
import { PaymentsConfig } from './config.ts';
import { paymentHandlers } from './handlers/message-handlers.ts';
import { paymentRoutes } from './routes/payment-routes.ts';

export const paymentsService: ServiceModule<typeof PaymentsConfig> = {
  name: 'payments',
  title: 'Bazaar payments',
  description: 'A simulated card processor: card tokens (brand and last four only), and the authorize, capture, void and refund steps of checkout.',
  configSchema: PaymentsConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: paymentRoutes,
  messageHandlers: paymentHandlers,
};
