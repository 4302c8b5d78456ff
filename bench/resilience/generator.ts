/**
 * An open-loop load generator in a process of its own, for the outage phase of
 * bench:resilience: one per route, so the catalog's latencies are measured on
 * an event loop that the orders load (hundreds of held requests, then a burst
 * of answers) does not touch.
 *
 * Environment: TARGET (base URL), CONNECTIONS (keep-alive connections to it).
 * Messages: `{ id, path, rate, seconds, maxInFlight }` runs an open loop of GETs
 * and answers `{ id, result }` (see load.ts); the outcome of a 4xx/5xx is its
 * status and problem code, e.g. `503 UPSTREAM_CIRCUIT_OPEN`.
 */
import { Pool } from 'undici';
import { openLoop } from './load.ts';

interface Run {
  id: number;
  path: string;
  rate: number;
  seconds: number;
  maxInFlight: number;
}

// Idle connections stay open for the whole run (the gateway keeps them 72 s): the hundreds opened while
// orders hold requests are not all closed together a few seconds later, which would measure the load
// generator's connection churn rather than the outage.
const pool = new Pool(process.env['TARGET']!, { connections: Number(process.env['CONNECTIONS'] ?? 256), keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });

function problemCode(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as { code?: string }).code ?? '';
  } catch {
    return '';
  }
}

process.on('message', (message: Run) => {
  const call = async () => {
    const response = await pool.request({ method: 'GET', path: message.path });
    const body = Buffer.from(await response.body.arrayBuffer());
    return response.statusCode < 400 ? String(response.statusCode) : `${response.statusCode} ${problemCode(body)}`.trim();
  };
  void openLoop(call, message).then((result) => process.send!({ id: message.id, result }));
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
