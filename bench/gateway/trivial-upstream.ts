/**
 * The smallest useful upstream: answers every request with a small JSON body, and
 * serves the JWKS the gateway verifies benchmark tokens with.
 */
import { createServer } from 'node:http';

const jwks = process.env['BENCH_JWKS'] ?? '{"keys":[]}';
const body = '{"ok":true,"items":[]}';

createServer((req, res) => {
  if (req.url === '/api/identity/.well-known/jwks.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(jwks) });
    res.end(jwks);
    return;
  }
  if (req.url === '/readyz' || req.url === '/docs/json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url === '/readyz' ? '{}' : '{"openapi":"3.1.0","paths":{}}');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env['PORT']), '127.0.0.1', () => process.send?.({ type: 'ready' }));
