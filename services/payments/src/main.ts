import { runService } from '@bazaar/chassis';
import { paymentsService } from './app.ts';

await runService(paymentsService);
