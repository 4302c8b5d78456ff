import { runService } from '@bazaar/chassis';
import { catalogService } from './app.ts';

await runService(catalogService);
