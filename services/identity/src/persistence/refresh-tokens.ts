import { randomUUID } from 'node:crypto';
import type { Database, Queryable, Role } from '@bazaar/chassis';
import { decideRefresh, hashRefreshToken, newRefreshToken, type RefreshDecision } from '../domain/refresh-tokens.ts';
import type { User } from './users.ts';

/** Starts a new family (a login) or continues one (a refresh); returns the token to hand out. */
export async function issueRefreshToken(db: Queryable, userId: string, ttlSeconds: number, familyId: string = randomUUID()): Promise<string> {
  const token = newRefreshToken();
  await db.query(
    `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [randomUUID(), hashRefreshToken(token), familyId, userId, ttlSeconds],
  );
  return token;
}

export type RotationResult =
  | { outcome: 'rotated'; refreshToken: string; user: Pick<User, 'id' | 'email' | 'roles'> }
  | { outcome: 'rejected'; decision: Exclude<RefreshDecision, { action: 'rotate' }> };

/**
 * Exchanges `presented` for its successor in one transaction. The token's row is
 * locked (FOR UPDATE), so of two concurrent refreshes with one token only the first
 * rotates; the second then sees a used token, which revokes the family. Reuse
 * revocation is committed before the caller answers 401.
 */
export async function rotateRefreshToken(db: Database, presented: string, ttlSeconds: number): Promise<RotationResult> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{
      id: string;
      family_id: string;
      user_id: string;
      expires_at: Date;
      used_at: Date | null;
      revoked_at: Date | null;
      now: Date;
      email: string;
      roles: Role[];
    }>(
      `SELECT t.id, t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, now() AS now, u.email, u.roles
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1
          FOR UPDATE OF t`,
      [hashRefreshToken(presented)],
    );
    const row = rows[0];
    const decision = decideRefresh(row && { expiresAt: row.expires_at, usedAt: row.used_at, revokedAt: row.revoked_at }, row?.now ?? new Date());
    if (decision.action === 'revoke-family') {
      await tx.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [row!.family_id]);
    }
    if (decision.action !== 'rotate') return { outcome: 'rejected', decision };

    await tx.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [row!.id]);
    const refreshToken = await issueRefreshToken(tx, row!.user_id, ttlSeconds, row!.family_id);
    return { outcome: 'rotated', refreshToken, user: { id: row!.user_id, email: row!.email, roles: row!.roles } };
  });
}

/** Revokes every token of the family `presented` belongs to. Unknown tokens are ignored. */
export async function revokeFamilyOf(db: Queryable, presented: string): Promise<void> {
  await db.query(
    `UPDATE refresh_tokens SET revoked_at = now()
      WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
        AND revoked_at IS NULL`,
    [hashRefreshToken(presented)],
  );
}

/**
 * Deletes refresh tokens that expired more than `graceSeconds` ago. An expired token
 * is refused whatever its row says, so nothing is lost; the grace keeps recently
 * expired rows for a while for investigation.
 */
export async function pruneExpiredRefreshTokens(db: Queryable, graceSeconds: number): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)', [graceSeconds]);
  return rowCount ?? 0;
}
