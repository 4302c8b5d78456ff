import { runService } from '@bazaar/chassis';
import { identityService } from './app.ts';

await runService(identityService);
