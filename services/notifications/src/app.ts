import type { ServiceModule } from '@bazaar/chassis';
import { NotificationsConfig } from './config.ts';
import { EmailSender } from './delivery/email-sender.ts';
import { smtpTransport } from './delivery/smtp-transport.ts';
import { notificationHandlers } from './handlers/message-handlers.ts';
import { notificationRoutes } from './routes/notification-routes.ts';

// The email sender of the running process (one per process; onStop has no context to carry it).
let sender: EmailSender | undefined;

export const notificationsService: ServiceModule<typeof NotificationsConfig> = {
  name: 'notifications',
  title: 'Bazaar notifications',
  description: 'Messages to customers (welcome, order and shipment news), kept in an inbox per customer and emailed when a mail server is configured.',
  configSchema: NotificationsConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: notificationRoutes,
  messageHandlers: notificationHandlers,
  async onStart({ config, db, log, metrics }) {
    if (!db) return;
    if (!config.SMTP_URL) {
      log.info('SMTP_URL is not set: notifications are kept in the inbox only');
      return;
    }
    await sender?.stop();
    sender = new EmailSender({
      db,
      transport: smtpTransport(config.SMTP_URL),
      from: config.SMTP_FROM,
      log,
      metrics,
      pollMs: config.EMAIL_POLL_MS,
      maxAttempts: config.EMAIL_MAX_ATTEMPTS,
      backoffBaseMs: config.EMAIL_BACKOFF_BASE_MS,
    });
    sender.start();
    // The host only: the URL may carry credentials.
    log.info({ smtpHost: new URL(config.SMTP_URL).host }, 'emailing notifications');
  },
  async onStop() {
    await sender?.stop();
    sender = undefined;
  },
};
