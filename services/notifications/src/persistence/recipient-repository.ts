import type { Queryable } from '@bazaar/chassis';

export interface Recipient {
  userId: string;
  email: string;
  name: string;
}

/** The customers notifications know: name and email address, as identity registered them. */
export class RecipientRepository {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** Stores `recipient`, or updates the one with their user id. */
  async upsert(recipient: Recipient): Promise<void> {
    await this.db.query(
      `INSERT INTO recipients (user_id, email, name) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, updated_at = now()`,
      [recipient.userId, recipient.email, recipient.name],
    );
  }

  /** The recipient with `userId`; undefined until their registration arrived. */
  async find(userId: string): Promise<Recipient | undefined> {
    const { rows } = await this.db.query<{ user_id: string; email: string; name: string }>('SELECT user_id, email, name FROM recipients WHERE user_id = $1', [userId]);
    const row = rows[0];
    return row && { userId: row.user_id, email: row.email, name: row.name };
  }
}
