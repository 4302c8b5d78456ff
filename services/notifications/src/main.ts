import { runService } from '@bazaar/chassis';
import { notificationsService } from './app.ts';

await runService(notificationsService);
