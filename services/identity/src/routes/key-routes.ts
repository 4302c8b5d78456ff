import type { ServiceApp } from '@bazaar/chassis';
import type { IdentityDeps } from './context.ts';
import { Jwks, Problem, RotatedKey } from './schemas.ts';

/** The JWKS every service verifies access tokens with, and admin key rotation. */
export function keyRoutes(app: ServiceApp, { keys }: IdentityDeps): void {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public keys that verify access tokens (JWKS, RFC 7517)',
        description: 'The active key and keys rotated out less than an access-token lifetime ago.',
        response: { 200: Jwks },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return keys.publicJwks();
    },
  );

  app.post(
    '/keys/rotate',
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['keys', 'admin'],
        summary: 'Start signing with a new key (admin)',
        description: 'The previous key stays in the JWKS until the tokens it signed have expired.',
        response: { 201: RotatedKey, 401: Problem, 403: Problem },
      },
    },
    async (request, reply) => {
      const rotated = await keys.rotate();
      request.log.info({ kid: rotated.kid, by: request.principal!.userId }, 'signing key rotated');
      return reply.code(201).send({ kid: rotated.kid, createdAt: rotated.createdAt.toISOString() });
    },
  );
}
