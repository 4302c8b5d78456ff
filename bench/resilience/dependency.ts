/**
 * The dependency for the client-side measurements of bench:resilience: a bare
 * `node:http` server in a process of its own (so it does not share the event
 * loop with the client being measured), listening on two ports — two instances
 * for the balancer.
 *
 *   GET /ok          200, 22 bytes of JSON
 *   GET /flaky       503 to a random FAILURE_RATE of requests (default 0.1), 200 otherwise
 *   GET /__stats     what it received since the last /__stats, by path and status (then resets)
 *
 * Tells its parent the two ports over IPC once both listen.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const failureRate = Number(process.env['FAILURE_RATE'] ?? 0.1);
const ok = '{"ok":true,"items":[]}';
const failed = '{"ok":false}';
let counts: Record<string, number> = {};

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url!;
  if (path === '/__stats') {
    const body = JSON.stringify(counts);
    counts = {};
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const status = path === '/flaky' && Math.random() < failureRate ? 503 : 200;
  const key = `${path} ${status}`;
  counts[key] = (counts[key] ?? 0) + 1;
  const body = status === 200 ? ok : failed;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function listen(): Promise<number> {
  const server = createServer(handle);
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

const ports = [await listen(), await listen()];
process.send?.({ type: 'ready', ports });
process.on('disconnect', () => process.exit(0));
