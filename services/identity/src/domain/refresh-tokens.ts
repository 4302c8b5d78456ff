import { createHash, randomBytes } from 'node:crypto';

/** Entropy of a refresh token: 256 bits, sent as 43 base64url characters. */
export const REFRESH_TOKEN_BYTES = 32;

/** A new opaque refresh token. Only its hash is ever stored. */
export function newRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
}

/** What the database keys a refresh token by: SHA-256 of the token string. */
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The stored state of a presented refresh token. */
export interface RefreshTokenState {
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

export type RefreshDecision =
  /** Valid: mark it used and issue its successor in the same family. */
  | { action: 'rotate' }
  /** Already rotated and presented again: it was stolen or replayed; revoke the family. */
  | { action: 'revoke-family' }
  /** Not acceptable, nothing to change. */
  | { action: 'reject'; reason: 'unknown' | 'revoked' | 'expired' };

/**
 * What to do with a presented refresh token. Order matters: a revoked family stays
 * revoked; reuse of a rotated token is treated as theft even once it has expired.
 */
export function decideRefresh(token: RefreshTokenState | undefined, now: Date): RefreshDecision {
  if (!token) return { action: 'reject', reason: 'unknown' };
  if (token.revokedAt) return { action: 'reject', reason: 'revoked' };
  if (token.usedAt) return { action: 'revoke-family' };
  if (token.expiresAt.getTime() <= now.getTime()) return { action: 'reject', reason: 'expired' };
  return { action: 'rotate' };
}
