import type { Queryable } from '@bazaar/chassis';

/** A pending email the sender has taken: what to send, and how many attempts it has had (this one included). */
export interface ClaimedEmail {
  id: string;
  to: string;
  subject: string;
  body: string;
  attempts: number;
}

/**
 * The emails waiting in `notifications` (channel email, delivery pending), as the
 * email sender works through them. Taking an email is a short transaction of its
 * own: the sending happens outside any transaction.
 */
export class EmailQueue {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /**
   * Takes up to `limit` emails due now: counts the attempt and pushes their next
   * attempt `leaseMs` away, so no other sender takes them meanwhile; if this one
   * dies before settling them, they are due again once the lease has run out.
   * SKIP LOCKED lets several replicas take disjoint batches at the same time.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedEmail[]> {
    const { rows } = await this.db.query<ClaimedEmail>(
      `WITH due AS (
         SELECT id FROM notifications
          WHERE delivery_status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED)
       UPDATE notifications n
          SET attempts = n.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
         FROM due
        WHERE n.id = due.id
       RETURNING n.id, n.email_to AS "to", n.subject, n.body, n.attempts`,
      [limit, leaseMs],
    );
    return rows;
  }

  async markSent(id: string): Promise<void> {
    await this.db.query(
      `UPDATE notifications SET delivery_status = 'sent', sent_at = now(), next_attempt_at = NULL, last_error = NULL
        WHERE id = $1 AND delivery_status = 'pending'`,
      [id],
    );
  }

  /** Keeps the email pending, due again in `delayMs`. */
  async markRetry(id: string, error: string, delayMs: number): Promise<void> {
    await this.db.query(
      `UPDATE notifications SET last_error = $2, next_attempt_at = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND delivery_status = 'pending'`,
      [id, error, delayMs],
    );
  }

  /** Gives the email up: it stays in the inbox, marked failed. */
  async markFailed(id: string, error: string): Promise<void> {
    await this.db.query(
      `UPDATE notifications SET delivery_status = 'failed', last_error = $2, next_attempt_at = NULL
        WHERE id = $1 AND delivery_status = 'pending'`,
      [id, error],
    );
  }

  /** How many emails are pending, and how long the oldest has been waiting. */
  async backlog(): Promise<{ pending: number; oldestSeconds: number }> {
    const { rows } = await this.db.query<{ pending: number; oldest: number | null }>(
      `SELECT count(*)::int AS pending, extract(epoch FROM now() - min(created_at))::float8 AS oldest
         FROM notifications WHERE delivery_status = 'pending'`,
    );
    return { pending: rows[0]?.pending ?? 0, oldestSeconds: rows[0]?.oldest ?? 0 };
  }
}
