import type { ServiceModule } from '@bazaar/chassis';
import { NotificationsConfig } from './config.ts';
import { notificationHandlers } from './handlers/message-handlers.ts';
import { notificationRoutes } from './routes/notification-routes.ts';

export const notificationsService: ServiceModule<typeof NotificationsConfig> = {
  name: 'notifications',
  title: 'Bazaar notifications',
  description: 'Messages to customers (welcome, order and shipment news), kept in an inbox per customer.',
  configSchema: NotificationsConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: notificationRoutes,
  messageHandlers: notificationHandlers,
};
