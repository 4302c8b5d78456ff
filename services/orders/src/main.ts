import { runService } from '@bazaar/chassis';
import { ordersService } from './app.ts';

await runService(ordersService);
