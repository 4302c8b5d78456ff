import { runService } from '@bazaar/chassis';
import { gatewayService } from './app.ts';

await runService(gatewayService);
