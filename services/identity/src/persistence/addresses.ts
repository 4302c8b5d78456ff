import type { Database, Queryable } from '@bazaar/chassis';
import type { AddressInput } from '../domain/address.ts';

export interface Address extends AddressInput {
  id: string;
  createdAt: Date;
}

interface AddressRow {
  id: string;
  label: string | null;
  name: string;
  line1: string;
  line2: string | null;
  city: string;
  postal_code: string;
  country: string;
  created_at: Date;
}

const columns = 'id, label, name, line1, line2, city, postal_code, country, created_at';

function toAddress(row: AddressRow): Address {
  return {
    id: row.id,
    ...(row.label === null ? {} : { label: row.label }),
    name: row.name,
    line1: row.line1,
    ...(row.line2 === null ? {} : { line2: row.line2 }),
    city: row.city,
    postalCode: row.postal_code,
    country: row.country,
    createdAt: row.created_at,
  };
}

export async function listAddresses(db: Queryable, userId: string): Promise<Address[]> {
  const { rows } = await db.query<AddressRow>(`SELECT ${columns} FROM addresses WHERE user_id = $1 ORDER BY created_at, id`, [userId]);
  return rows.map(toAddress);
}

/**
 * Adds an address unless the user already has `limit` of them. The user's row is
 * locked while counting, so concurrent additions cannot overshoot the limit.
 * `undefined` when the user does not exist, `'limit'` when the limit is reached.
 */
export async function addAddress(db: Database, userId: string, id: string, address: AddressInput, limit: number): Promise<Address | 'limit' | undefined> {
  return db.transaction(async (tx) => {
    const { rowCount: userFound } = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    if (!userFound) return undefined;
    const { rows: counted } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM addresses WHERE user_id = $1', [userId]);
    if ((counted[0]?.n ?? 0) >= limit) return 'limit';
    const { rows } = await tx.query<AddressRow>(
      `INSERT INTO addresses (id, user_id, label, name, line1, line2, city, postal_code, country)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${columns}`,
      [id, userId, address.label ?? null, address.name, address.line1, address.line2 ?? null, address.city, address.postalCode, address.country],
    );
    return toAddress(rows[0]!);
  });
}

/** Deletes the address if it belongs to `userId`; false when there is no such address of theirs. */
export async function deleteAddress(db: Queryable, userId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM addresses WHERE id = $1 AND user_id = $2', [id, userId]);
  return (rowCount ?? 0) > 0;
}
