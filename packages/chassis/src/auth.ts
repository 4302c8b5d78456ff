import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AppError } from './problem.ts';

/** The only algorithm Bazaar signs with. Pinned: a token naming any other (including `none`) is rejected. */
export const ACCESS_TOKEN_ALGORITHM = 'EdDSA';

export type Role = 'customer' | 'admin';

/** Who is calling, as proven by a verified access token. */
export interface Principal {
  userId: string;
  email: string;
  roles: Role[];
}

export interface JwtVerifierOptions {
  /** Where the identity service publishes its keys, or a key resolver (identity verifies with its own keys). */
  jwks: URL | JWTVerifyGetKey;
  issuer: string;
  audience: string;
  /** Verified tokens are remembered this long at most (and never past their `exp`). */
  cacheTtlMs?: number;
  cacheSize?: number;
  /**
   * How the JWKS document is fetched (a `fetch`-like function answering a
   * Response); by default jose fetches the URL itself. Services pass their
   * identity client, so the fetch goes through discovery and the call policies.
   */
  fetchJwks?: (url: string, init: { signal?: AbortSignal }) => Promise<Response>;
}

export type VerifyAccessToken = ((token: string) => Promise<Principal>) & {
  /**
   * The principal of a token verified a moment ago and still remembered, at once
   * (no promise, no tick): the hot path of a proxy checks this first and awaits the
   * verifier only on a miss. Absent on verifiers that remember nothing.
   */
  remembered?: (token: string) => Principal | undefined;
};

/**
 * Verifies access tokens: signature against the JWKS (fetched once, cached, refetched
 * on an unknown `kid`), algorithm pinned, `iss`, `aud`, `exp` required. Successful
 * verifications are cached briefly by token, so a hot token costs a map lookup.
 */
export function createAccessTokenVerifier(options: JwtVerifierOptions): VerifyAccessToken {
  const keys =
    options.jwks instanceof URL
      ? createRemoteJWKSet(options.jwks, {
          cooldownDuration: 30_000,
          cacheMaxAge: 600_000,
          timeoutDuration: 3_000,
          ...(options.fetchJwks ? { [customFetch]: options.fetchJwks } : {}),
        })
      : options.jwks;
  const ttl = options.cacheTtlMs ?? 60_000;
  const maxEntries = options.cacheSize ?? 10_000;
  const cache = new Map<string, { principal: Principal; until: number }>();
  const remembered = (token: string): Principal | undefined => {
    const hit = cache.get(token);
    if (hit === undefined) return undefined;
    if (hit.until > Date.now()) return hit.principal;
    cache.delete(token);
    return undefined;
  };

  const verify = async (token: string): Promise<Principal> => {
    const hit = remembered(token);
    if (hit) return hit;
    const now = Date.now();

    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: 5,
      }));
    } catch (error) {
      throw verificationFailure(error);
    }
    const roles = Array.isArray(payload['roles']) ? (payload['roles'].filter((r) => r === 'customer' || r === 'admin') as Role[]) : [];
    const principal: Principal = { userId: String(payload.sub), email: String(payload['email'] ?? ''), roles };

    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(token, { principal, until: Math.min(now + ttl, (payload.exp ?? 0) * 1000) });
    return principal;
  };
  return Object.assign(verify, { remembered });
}

/** An error safe to show the caller: what was wrong, never key material or internals. */
function verificationFailure(error: unknown): AppError {
  // Keys unavailable (identity down, JWKS timeout) is our problem, not a bad token.
  if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) {
    return new AppError('SERVICE_UNAVAILABLE', 'Access tokens cannot be verified right now', { headers: { 'retry-after': '5' }, cause: error });
  }
  let reason = 'The access token is malformed';
  if (error instanceof joseErrors.JWTExpired) reason = 'The access token has expired';
  else if (error instanceof joseErrors.JWTClaimValidationFailed) reason = `The access token's "${error.claim}" claim is not accepted`;
  else if (error instanceof joseErrors.JOSEAlgNotAllowed) reason = 'The access token is signed with an algorithm that is not accepted';
  else if (error instanceof joseErrors.JWKSNoMatchingKey) reason = 'The access token is signed with an unknown key';
  else if (error instanceof joseErrors.JWSSignatureVerificationFailed) reason = 'The access token signature is invalid';
  return new AppError('UNAUTHENTICATED', reason, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });
}

/** Extracts the bearer token from an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*)$/.exec(header);
  if (!match) throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <token>"');
  return match[1];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    /** onRequest hook: 401 unless the request carries a valid access token. */
    authenticate: onRequestAsyncHookHandler;
    /** onRequest hook: verifies a token when one is sent (401 if invalid); anonymous requests pass. */
    identify: onRequestAsyncHookHandler;
    /** onRequest hook: 401 without a valid token, 403 unless the caller has `role`. */
    requireRole: (role: Role) => onRequestAsyncHookHandler;
  }
}

/**
 * Adds `request.principal` and the `authenticate` / `identify` / `requireRole` hooks.
 *
 * They run as a route's `onRequest` hooks: who is calling is settled before the body
 * is read, parsed or validated, so a caller without the right token learns 401 or 403
 * and nothing of what the route expects (not a 400 naming its fields, not a 415), and
 * a body from nobody costs no parsing. A route that puts one of them later
 * (`preValidation`, `preHandler`) is refused when it is declared.
 */
export function installAuthentication(app: FastifyInstance, verify: VerifyAccessToken): void {
  app.decorateRequest('principal', undefined);

  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    if (request.principal) return request.principal;
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new AppError('UNAUTHENTICATED', 'This route needs an access token', { headers: { 'www-authenticate': 'Bearer' } });
    request.principal = await verify(token);
    return request.principal;
  };

  // The hooks that need a token, and the one that takes it when sent: a route that
  // uses one is documented as such in the OpenAPI document, without saying it again.
  const needToken = new WeakSet<object>();
  const authenticateHandler = async (request: FastifyRequest) => {
    await authenticate(request);
  };
  needToken.add(authenticateHandler);
  const identifyHandler = async (request: FastifyRequest) => {
    if (request.headers.authorization !== undefined) await authenticate(request);
  };
  app.decorate('authenticate', authenticateHandler);
  app.decorate('identify', identifyHandler);
  app.decorate('requireRole', (role: Role) => {
    const handler = async (request: FastifyRequest) => {
      const principal = await authenticate(request);
      if (!principal.roles.includes(role)) throw new AppError('FORBIDDEN', `This route is for the ${role} role`);
    };
    needToken.add(handler);
    return handler;
  });

  const isTokenHook = (handler: unknown): boolean => typeof handler === 'function' && (needToken.has(handler) || handler === identifyHandler);
  app.addHook('onRoute', (route) => {
    for (const late of ['preValidation', 'preHandler'] as const) {
      if ([route[late]].flat().some(isTokenHook)) {
        throw new Error(`${[route.method].flat().join(',')} ${route.url}: authentication belongs in onRequest, before the body is read, not in ${late}`);
      }
    }
    const handlers = [route.onRequest].flat().filter((handler) => handler !== undefined);
    const bearer: Record<string, string[]> = { bearer: [] };
    const security = handlers.some((handler) => needToken.has(handler)) ? [bearer] : handlers.includes(identifyHandler) ? [{}, bearer] : undefined;
    if (security && !route.schema?.security) route.schema = { ...route.schema, security };
  });
}
