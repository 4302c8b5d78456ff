/**
 * The trace console of `npm start` (an OTLP/HTTP receiver keeping recent traces in
 * memory) as a process of its own, so that the CPU a traced gateway makes it spend is
 * counted apart from the gateway's.
 */
import { startTraceConsole } from '@bazaar/runtime/trace-console/server';

await startTraceConsole(Number(process.env['PORT']));
process.send?.({ type: 'ready' });
