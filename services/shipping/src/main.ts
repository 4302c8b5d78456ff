import { runService } from '@bazaar/chassis';
import { shippingService } from './app.ts';

await runService(shippingService);
