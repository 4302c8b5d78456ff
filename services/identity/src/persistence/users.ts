import type { Queryable, Role } from '@bazaar/chassis';

export interface User {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  createdAt: Date;
}

export interface UserWithCredentials extends User {
  passwordHash: string;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  created_at: Date;
  password_hash: string;
}

const columns = 'id, email, name, roles, created_at';

function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, name: row.name, roles: row.roles, createdAt: row.created_at };
}

export interface NewUser {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  roles: Role[];
}

/** Inserts a user; `undefined` when the (normalized) email is already registered. */
export async function insertUser(db: Queryable, user: NewUser): Promise<User | undefined> {
  try {
    const { rows } = await db.query<UserRow>(
      `INSERT INTO users (id, email, name, password_hash, roles) VALUES ($1, $2, $3, $4, $5) RETURNING ${columns}`,
      [user.id, user.email, user.name, user.passwordHash, user.roles],
    );
    return toUser(rows[0]!);
  } catch (error) {
    const pgError = error as { code?: string; constraint?: string };
    if (pgError.code === '23505' && pgError.constraint === 'users_email_key') return undefined;
    throw error;
  }
}

export async function findUserById(db: Queryable, id: string): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(`SELECT ${columns} FROM users WHERE id = $1`, [id]);
  return rows[0] && toUser(rows[0]);
}

/** The user with this normalized email, with the password hash (for login only). */
export async function findCredentialsByEmail(db: Queryable, email: string): Promise<UserWithCredentials | undefined> {
  const { rows } = await db.query<UserRow>(`SELECT ${columns}, password_hash FROM users WHERE lower(email) = $1`, [email]);
  const row = rows[0];
  return row && { ...toUser(row), passwordHash: row.password_hash };
}

export async function emailRegistered(db: Queryable, email: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM users WHERE lower(email) = $1', [email]);
  return (rowCount ?? 0) > 0;
}

export async function adminExists(db: Queryable): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM users WHERE 'admin' = ANY (roles) LIMIT 1`);
  return (rowCount ?? 0) > 0;
}
