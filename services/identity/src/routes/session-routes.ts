import { randomUUID } from 'node:crypto';
import { AppError, Type, type ServiceApp } from '@bazaar/chassis';
import { parseEmail, normalizeEmail } from '../domain/email.ts';
import { passwordPolicyViolation } from '../domain/password-policy.ts';
import { findCredentialsByEmail, insertUser } from '../persistence/users.ts';
import { issueRefreshToken, revokeFamilyOf, rotateRefreshToken } from '../persistence/refresh-tokens.ts';
import { hashPassword, verifyPassword } from '../security/passwords.ts';
import type { TokenSubject } from '../security/access-tokens.ts';
import type { IdentityDeps } from './context.ts';
import { LoginBody, Problem, RefreshBody, RegisterBody, TokenResponse, UserView } from './schemas.ts';

/** Registration, login, refresh-token rotation and logout. */
export function sessionRoutes(app: ServiceApp, deps: IdentityDeps): void {
  const { db, outbox, config, accessTokens, throttle } = deps;

  async function tokenPair(subject: TokenSubject, refreshToken: string) {
    return { accessToken: await accessTokens.issue(subject), refreshToken, tokenType: 'Bearer' as const, expiresIn: accessTokens.ttlSeconds };
  }

  app.post(
    '/register',
    {
      schema: {
        tags: ['account'],
        summary: 'Create a customer account',
        body: RegisterBody,
        response: { 201: UserView, 400: Problem, 409: Problem, 415: Problem },
      },
    },
    async (request, reply) => {
      const email = parseEmail(request.body.email);
      if (!email.ok) {
        throw new AppError('VALIDATION_FAILED', `body/email ${email.reason}`, { errors: [{ path: 'body/email', message: email.reason }] });
      }
      const weakness = passwordPolicyViolation(request.body.password, email.email);
      if (weakness) throw new AppError('WEAK_PASSWORD', weakness);

      const passwordHash = await hashPassword(request.body.password);
      // The account and the event announcing it commit together (transactional outbox).
      const user = await db.transaction(async (tx) => {
        const created = await insertUser(tx, { id: randomUUID(), email: email.email, name: request.body.name.trim(), passwordHash, roles: ['customer'] });
        if (!created) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists; log in instead');
        await outbox.add(
          tx,
          'identity.user-registered.v1',
          { userId: created.id, email: created.email, name: created.name, registeredAt: created.createdAt.toISOString() },
          { key: created.id },
        );
        return created;
      });
      return reply.code(201).send({ id: user.id, email: user.email, name: user.name, roles: user.roles });
    },
  );

  app.post(
    '/login',
    {
      schema: {
        tags: ['session'],
        summary: 'Exchange email and password for an access token and a refresh token',
        description:
          'Unknown emails and wrong passwords get the same answer. Failed attempts are limited per account and per client address (429 with Retry-After).',
        body: LoginBody,
        response: { 200: TokenResponse, 400: Problem, 401: Problem, 415: Problem, 429: Problem },
      },
    },
    async (request, reply) => {
      const email = normalizeEmail(request.body.email);
      await throttle.attempt(email, request.ip);

      const user = await findCredentialsByEmail(db, email);
      // Unknown email: still run one argon2 verification, so both failures take the same time.
      const valid = await verifyPassword(user?.passwordHash ?? deps.dummyHash, request.body.password);
      if (!user || !valid) throw new AppError('INVALID_CREDENTIALS', 'Email or password is incorrect');

      await throttle.succeeded(email, request.ip);
      const refreshToken = await issueRefreshToken(db, user.id, config.REFRESH_TOKEN_TTL_SECONDS);
      reply.header('cache-control', 'no-store');
      return tokenPair(user, refreshToken);
    },
  );

  app.post(
    '/refresh',
    {
      schema: {
        tags: ['session'],
        summary: 'Exchange a refresh token for a new token pair (the old refresh token becomes invalid)',
        description: 'Presenting a refresh token that was already exchanged revokes every token issued from the same login.',
        body: RefreshBody,
        response: { 200: TokenResponse, 400: Problem, 401: Problem, 415: Problem },
      },
    },
    async (request, reply) => {
      const result = await rotateRefreshToken(db, request.body.refreshToken, config.REFRESH_TOKEN_TTL_SECONDS);
      if (result.outcome === 'rejected') {
        if (result.decision.action === 'revoke-family') {
          request.log.warn('refresh token reused; its token family was revoked');
        }
        throw new AppError('REFRESH_TOKEN_INVALID', 'Log in again');
      }
      reply.header('cache-control', 'no-store');
      return tokenPair(result.user, result.refreshToken);
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['session'],
        summary: 'Revoke a refresh token and every token issued from the same login',
        description: 'Idempotent: unknown or already revoked tokens are accepted too. Access tokens stay valid until they expire.',
        body: RefreshBody,
        response: { 204: Type.Null({ description: 'Logged out' }), 400: Problem, 415: Problem },
      },
    },
    async (request, reply) => {
      await revokeFamilyOf(db, request.body.refreshToken);
      return reply.code(204).send(null);
    },
  );
}
