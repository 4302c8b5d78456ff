/**
 * Reference point, not part of Bazaar: the plain Fastify + @fastify/reply-from
 * proxy (no auth, no policies), the figure the gateway's bar is stated against.
 */
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';

const app = Fastify({ logger: false });
await app.register(replyFrom, { base: process.env['UPSTREAM_URL']!, undici: { connections: 128, pipelining: 1 } });
app.get('/*', (request, reply) => reply.from(request.url));
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.send?.({ type: 'ready' });
